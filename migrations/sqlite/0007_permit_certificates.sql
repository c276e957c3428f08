-- What a certificate says is fixed when the permit is issued, so a later change of the rule tables
-- never changes an issued certificate.

ALTER TABLE permits ADD COLUMN certificate TEXT NOT NULL DEFAULT '{}';
