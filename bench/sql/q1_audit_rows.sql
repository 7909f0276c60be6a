-- The audit rows GePI writes for Q1: one `read` entry per case whose content
-- is returned (run after q1.sql, in its transaction).
INSERT INTO audit_event (id, occurred_at, request_id, actor_kind, operator_id, profile_id, role, ambito_id,
                         entity, entity_id, action, changes)
SELECT gen_random_uuid(), now(), 'bench', 'operator', :cm::uuid, :profile::uuid, 'case_manager', c.ambito_id,
       'case_file', c.id::text, 'read', '{"classes":["personal"]}'
  FROM (SELECT id, ambito_id FROM case_file WHERE case_manager_id = :cm ORDER BY pad_date, id LIMIT :n) c;
