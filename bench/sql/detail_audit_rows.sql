-- The audit row GePI writes for a case's detail (run after detail.sql, in its
-- transaction).
INSERT INTO audit_event (id, occurred_at, request_id, actor_kind, operator_id, profile_id, role, ambito_id,
                         entity, entity_id, action, changes)
SELECT gen_random_uuid(), now(), 'bench', 'operator', :cm::uuid, :profile::uuid, 'case_manager', ambito_id,
       'case_file', id::text, 'read', '{"classes":["personal","special"]}'
  FROM case_file WHERE id = :case;
