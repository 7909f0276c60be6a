-- The audit rows GePI writes for Q1 deep (run after q1_deep.sql, in its transaction).
INSERT INTO audit_event (id, occurred_at, request_id, actor_kind, operator_id, profile_id, role, ambito_id,
                         entity, entity_id, action, changes)
SELECT gen_random_uuid(), now(), 'bench', 'operator', :cm::uuid, :profile::uuid, 'case_manager', c.ambito_id,
       'case_file', c.id::text, 'read', '{"classes":["personal"]}'
  FROM (SELECT id, ambito_id FROM case_file
         WHERE case_manager_id = :cm AND (pad_date, id) > (:after_date::date, :after_id::uuid)
         ORDER BY pad_date, id LIMIT :n) c;
