-- The coordinator's list floor: the first 20 cases of the Ambito by PAD date,
-- with their Comune's name.
SELECT c.id, c.state, c.pad_date, co.name
  FROM case_file c JOIN comune co ON co.istat_code = c.comune_istat
 WHERE c.ambito_id = :ambito
 ORDER BY c.pad_date, c.id
 LIMIT 20;
