-- Q1 deep: the :n cases of the case manager :cm after the keyset (:after_date,
-- :after_id), halfway through its list, with the same rows as q1.sql.
SELECT c.id, c.state, h.id AS household_id,
       (SELECT json_agg(json_build_object('fiscal_code', m.fiscal_code, 'first_name', m.first_name,
                                          'last_name', m.last_name) ORDER BY m.id)
          FROM member m WHERE m.household_id = h.id) AS members,
       (SELECT json_agg(json_build_object('id', mt.id, 'scheduled_at', mt.scheduled_at, 'state', mt.state)
                        ORDER BY mt.scheduled_at, mt.id)
          FROM meeting mt WHERE mt.case_id = c.id) AS meetings
  FROM case_file c JOIN household h ON h.id = c.household_id
 WHERE c.case_manager_id = :cm AND (c.pad_date, c.id) > (:after_date::date, :after_id::uuid)
 ORDER BY c.pad_date, c.id
 LIMIT :n;
