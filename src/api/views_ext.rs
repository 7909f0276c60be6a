//! Fields of the governed views that the spec language cannot express
//! (`ext` in `tools/views.spec`). The generated resolver of each calls the
//! function named `<type>_<field>` here; its key, class and visibility are
//! generated like any other field's, and each function applies the field
//! guard (through `show` or a relation helper) before reading anything.

use async_graphql::Context;
use entity::{puc_attendance, residency_period};

use super::{puc::PucVacancies, relations, views::*};
use crate::{
    authz::{keys, FieldKey},
    error::GqlResult,
    graphql::guard::show,
    residency::model::{summarise, ResidenceSummary},
};

/// `Profile.comuni`: through the link table, under the Comune rule.
pub async fn profile_comuni(v: &ProfileView, ctx: &Context<'_>) -> GqlResult<Option<Vec<ComuneView>>> {
    let own = v.own(ctx);
    let rows = relations::profile_comuni(ctx, keys::profile::COMUNI, own, v.0.id).await?;
    Ok(rows.map(|c| c.into_iter().map(ComuneView).collect()))
}

/// `Convention.dependentProfiles`: under the Profile rule.
pub async fn convention_dependent_profiles(
    v: &ConventionView,
    ctx: &Context<'_>,
) -> GqlResult<Option<Vec<ProfileView>>> {
    let own = v.own(ctx);
    let rows = relations::dependent_profiles(ctx, keys::convention::DEPENDENT_PROFILES, own, &v.0).await?;
    Ok(rows.map(|p| p.into_iter().map(ProfileView).collect()))
}

/// `PucProject.vacancies`: places minus the assignments that take one.
pub async fn puc_project_vacancies(v: &PucProjectView, ctx: &Context<'_>) -> GqlResult<Option<PucVacancies>> {
    if show(ctx, keys::puc_project::VACANCIES, v.own(ctx), || ()).is_none() {
        return Ok(None);
    }
    let taken = super::puc::taken(ctx, v.0.id).await?;
    Ok(Some(crate::puc::service::vacancies_of(&v.0, taken).into()))
}

/// `PucAssignment.totalMinutes`: the register's minutes the viewer may see.
pub async fn puc_assignment_total_minutes(v: &PucAssignmentView, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
    let own = v.own(ctx);
    let rows = relations::rel_many::<puc_attendance::Entity, _>(
        ctx,
        keys::puc_assignment::TOTAL_MINUTES,
        own,
        puc_attendance::Column::AssignmentId,
        v.0.id,
        |r| r.assignment_id,
        puc_attendance::Column::Day,
    )
    .await?;
    Ok(rows.map(|a| a.iter().map(|a| a.minutes as i64).sum()))
}

/// The requirement computed from the periods of the check the viewer may see.
async fn residence(v: &ResidencyCheckView, ctx: &Context<'_>, key: FieldKey) -> GqlResult<Option<ResidenceSummary>> {
    let own = v.own(ctx);
    let rows = relations::rel_many::<residency_period::Entity, _>(
        ctx,
        key,
        own,
        residency_period::Column::CheckId,
        v.0.id,
        |r| r.check_id,
        residency_period::Column::FromOn,
    )
    .await?;
    Ok(rows.map(|p| {
        let periods: Vec<_> = p.iter().map(|p| (p.from_on, p.to_on)).collect();
        summarise(&periods, crate::calendar::today())
    }))
}

/// `ResidencyCheck.totalResidenceDays`.
pub async fn residency_check_total_residence_days(v: &ResidencyCheckView, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
    Ok(residence(v, ctx, keys::residency_check::TOTAL_RESIDENCE_DAYS).await?.map(|s| s.total_days))
}

/// `ResidencyCheck.lastContinuousDays`.
pub async fn residency_check_last_continuous_days(v: &ResidencyCheckView, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
    Ok(residence(v, ctx, keys::residency_check::LAST_CONTINUOUS_DAYS).await?.map(|s| s.last_continuous_days))
}

/// `ResidencyCheck.requirementMet`.
pub async fn residency_check_requirement_met(v: &ResidencyCheckView, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
    Ok(residence(v, ctx, keys::residency_check::REQUIREMENT_MET).await?.map(|s| s.requirement_met))
}
