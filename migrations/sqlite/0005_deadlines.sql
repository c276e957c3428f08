-- Deadlines in working days: when the case was accepted, how many working days the clock stood still
-- while the office waited for the applicant, and when the promised limit was escalated.

ALTER TABLE applications ADD COLUMN accepted_on TEXT;
ALTER TABLE applications ADD COLUMN waiting_since TEXT;
ALTER TABLE applications ADD COLUMN paused_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN escalated_on TEXT;
