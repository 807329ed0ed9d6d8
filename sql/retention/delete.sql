-- Drop every partition of {table} before @cutoff. The condition is on the partition expression
-- alone, so BigQuery removes whole partitions (a metadata operation, nothing scanned or billed).
DELETE FROM {table}
WHERE {day} < @cutoff
