-- Q1 floor plus the audit rows GePI must write: one `read` entry per case
-- whose content is returned, in the same transaction.
BEGIN;
SELECT c.id, c.state, h.id AS household_id,
       (SELECT json_agg(json_build_object('fiscal_code', m.fiscal_code, 'first_name', m.first_name,
                                          'last_name', m.last_name) ORDER BY m.id)
          FROM member m WHERE m.household_id = h.id) AS members,
       (SELECT json_agg(json_build_object('id', mt.id, 'scheduled_at', mt.scheduled_at, 'state', mt.state)
                        ORDER BY mt.scheduled_at, mt.id)
          FROM meeting mt WHERE mt.case_id = c.id) AS meetings
  FROM case_file c JOIN household h ON h.id = c.household_id
 WHERE c.case_manager_id = :cm
 ORDER BY c.pad_date, c.id
 LIMIT :n;
INSERT INTO audit_event (id, occurred_at, request_id, actor_kind, operator_id, profile_id, role, ambito_id,
                         entity, entity_id, action, changes)
SELECT gen_random_uuid(), now(), 'bench', 'operator', :cm::uuid, :profile::uuid, 'case_manager', c.ambito_id,
       'case_file', c.id::text, 'read', '{"classes":["personal"]}'
  FROM (SELECT id, ambito_id FROM case_file WHERE case_manager_id = :cm ORDER BY pad_date, id LIMIT :n) c;
COMMIT;
