//! Context accessors every resolver uses: the principal, the request's gateway
//! (the row rules of its principal), who acts in a mutation, ids decoded from
//! arguments.

use async_graphql::{Context, ID};

use super::{relations::Loaders, RequestId};
use crate::{
    authz::gateway::Gateway,
    error::{GqlResult, ResultExt},
    ids,
};

/// The request's gateway (requires a session).
pub fn gateway<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Gateway> {
    super::guard::request_authz(ctx)?;
    Ok(ctx.data::<Loaders>()?.gateway())
}

/// Who acts in a mutation: the request's gateway and request id.
pub fn acting<'a>(ctx: &'a Context<'_>) -> GqlResult<crate::workflow::Acting<'a>> {
    Ok(crate::workflow::Acting {
        gw: gateway(ctx)?,
        request_id: ctx.data_opt::<RequestId>().map(|r| r.0.clone()),
        operation: ctx.data_opt::<super::OperationName>().map(|o| o.0.clone()),
    })
}

pub fn uuid_arg(field: &str, kind: &str, id: &ID) -> GqlResult<uuid::Uuid> {
    ids::decode_uuid(field, kind, id).gql()
}

/// The principal of a GraphQL request, or `UNAUTHENTICATED` with the reason.
pub fn principal<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a crate::principal::Principal> {
    match ctx.data_opt::<crate::principal::Authn>() {
        Some(a) => a.principal().gql(),
        None => Err(crate::error::AppError::Unauthenticated("authentication required".into())).gql(),
    }
}
