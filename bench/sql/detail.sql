-- Case detail floor: one case with its household's members and its analysis.
SELECT c.id, c.state, c.pad_date,
       (SELECT json_agg(json_build_object('first_name', m.first_name, 'last_name', m.last_name) ORDER BY m.id)
          FROM member m WHERE m.household_id = c.household_id) AS members,
       pa.state, pa.needs_notes
  FROM case_file c LEFT JOIN preliminary_analysis pa ON pa.case_id = c.id
 WHERE c.id = :case;
