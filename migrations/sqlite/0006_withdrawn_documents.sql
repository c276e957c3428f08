-- An applicant may withdraw a document (a wrong or unreadable file) before submitting again. The row
-- and the blob stay for the record; a withdrawn document is no longer part of new submissions.

ALTER TABLE documents ADD COLUMN withdrawn_at TEXT;
