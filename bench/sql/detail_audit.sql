-- Case detail floor plus its audit row.
BEGIN;
SELECT c.id, c.state, c.pad_date,
       (SELECT json_agg(json_build_object('first_name', m.first_name, 'last_name', m.last_name) ORDER BY m.id)
          FROM member m WHERE m.household_id = c.household_id) AS members,
       pa.state, pa.needs_notes
  FROM case_file c LEFT JOIN preliminary_analysis pa ON pa.case_id = c.id
 WHERE c.id = :case;
INSERT INTO audit_event (id, occurred_at, request_id, actor_kind, operator_id, profile_id, role, ambito_id,
                         entity, entity_id, action, changes)
SELECT gen_random_uuid(), now(), 'bench', 'operator', :cm::uuid, :profile::uuid, 'case_manager', ambito_id,
       'case_file', id::text, 'read', '{"classes":["personal","special"]}'
  FROM case_file WHERE id = :case;
COMMIT;
