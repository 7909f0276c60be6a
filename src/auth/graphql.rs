//! GraphQL: who am I (`me`), switching profile, logging out.

use async_graphql::{Context, Object, ID};
use entity::{enums::AuditAction, profile};
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{session, Actor, Authn, Principal};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    error::{AppError, GqlResult, ResultExt},
    graphql::RequestId,
    ids,
    graphql::views::{OperatorView, ProfileView},
    operators::service as operators,
};

/// The principal of the request, or `UNAUTHENTICATED`.
pub fn principal<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Principal> {
    match ctx.data_opt::<Authn>() {
        Some(a) => a.principal().gql(),
        None => Err(AppError::Unauthenticated("authentication required".into())).gql(),
    }
}

/// The logged-in operator and the profile the session is bound to.
pub struct Me {
    operator: entity::operator::Model,
    profile: profile::Model,
}

#[Object]
impl Me {
    /// The operator.
    async fn operator(&self) -> OperatorView {
        OperatorView(self.operator.clone())
    }
    /// The active profile: every authorization decision of this session follows it.
    async fn profile(&self) -> ProfileView {
        ProfileView(self.profile.clone())
    }
    /// Every profile of the operator in force today; `switchProfile` activates one.
    async fn profiles(&self, ctx: &Context<'_>) -> GqlResult<Vec<ProfileView>> {
        crate::authz::request_authz(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let all = operators::profiles_in_force(db, self.operator.id, crate::cases::model::today()).await.gql()?;
        Ok(all.into_iter().map(ProfileView).collect())
    }
}

async fn load_me(db: &DatabaseConnection, p: &Principal) -> Result<Me, AppError> {
    let Actor::Operator { operator_id, profile_id, .. } = p.actor else {
        return Err(AppError::Forbidden("`me` is for operators; API clients have no operator".into()));
    };
    let operator = operators::operator_by_id(db, operator_id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("operator not found".into()))?;
    let profile = operators::profile_for_login(db, operator_id, profile_id, crate::cases::model::today()).await?;
    Ok(Me { operator, profile })
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The logged-in operator, the active profile and the other profiles.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Me> {
        let p = principal(ctx)?;
        load_me(ctx.data_unchecked::<DatabaseConnection>(), p).await.gql()
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Binds the session to another profile of the same operator (explicit, audited).
    /// Takes effect from the next request.
    async fn switch_profile(&self, ctx: &Context<'_>, profile_id: ID) -> GqlResult<Me> {
        let p = principal(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        let pid = ids::decode_uuid("profileId", "Profile", &profile_id).gql()?;
        let Actor::Operator { operator_id, session_id, profile_id: from, .. } = p.actor.clone() else {
            return Err(AppError::Forbidden("API clients have no profiles".into())).gql();
        };
        let target = operators::profile_for_login(db, operator_id, pid, crate::cases::model::today()).await.gql()?;
        let audit_ctx = AuditContext::of(p, request_id);
        db.transaction::<_, (), AppError>(|txn| {
            Box::pin(async move {
                session::switch_profile(txn, session_id, pid).await?;
                let mut e = AuditEntry::new("session", session_id, AuditAction::SwitchProfile);
                e.changes = Some(serde_json::json!({
                    "profile_id": { "before": from, "after": pid },
                }));
                audit::record(txn, &audit_ctx, vec![e]).await
            })
        })
        .await
        .map_err(AppError::from)
        .gql()?;
        let operator = operators::operator_by_id(db, operator_id).await.gql()?
            .ok_or_else(|| AppError::Unauthenticated("operator not found".into())).gql()?;
        Ok(Me { operator, profile: target })
    }

    /// Revokes the current session.
    async fn logout(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let p = principal(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        super::dev_login::logout_principal(db, p, request_id).await.gql()?;
        Ok(true)
    }
}
