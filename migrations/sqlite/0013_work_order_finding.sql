-- What verifying a work order found: 'founded' (to be rectified) or 'unfounded' (explained to the
-- applicant, perhaps appealed); NULL until verified. A dismissed appeal makes it 'founded'. The
-- rectification rate counts over the orders not found unfounded.

ALTER TABLE work_orders ADD COLUMN finding TEXT CHECK (finding IN ('founded', 'unfounded'));

UPDATE work_orders SET finding = (
    SELECT CASE
        WHEN s.step = 'verify' AND json_extract(s.details, '$.founded') THEN 'founded'
        WHEN s.step = 'verify' THEN 'unfounded'
        ELSE 'founded' END
    FROM work_order_steps s
    WHERE s.work_order_id = work_orders.id
      AND (s.step = 'verify' OR (s.step = 'decide_appeal' AND NOT json_extract(s.details, '$.upheld')))
    ORDER BY s.id DESC LIMIT 1
);
