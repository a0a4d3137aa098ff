//! `/ui/rfm`: buyers by recency and frequency score (quintiles over every
//! buyer, 1 to 5), each square labelled with the named cell it belongs to,
//! and the named cells' sizes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::error::PageResult;
use super::insights;
use super::layout::{self, Nav, percent, thousands};
use super::session::Session;
use super::{blocking, svg};
use crate::AppState;

/// `GET /ui/rfm`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> PageResult<Markup> {
    let g = blocking(&state, insights::rfm).await?;
    let body = html! {
        h1 { "RFM" }
        p.stats {
            span { strong { (thousands(g.buyers)) } " buyers" }
            span { strong { (percent(g.buyers as f64 / g.people.max(1) as f64)) } " of " (thousands(g.people)) " people" }
        }
        p.muted {
            "Recency (days since the last order) and frequency (orders) scored 1 to 5 by quintile over all buyers; "
            "segments select cells with " code { "rfm in [Champions, Loyal]" } "."
        }
        div.scroll { (svg::rfm_grid(&g.counts, &seglab_lang::RFM_GRID, "Buyers by recency and frequency score")) }
        h2 { "Cells" }
        table.data {
            (layout::thead(&[("Cell", false), ("Buyers", true), ("Share of buyers", true)]))
            tbody {
                @for (cell, n) in &g.cells {
                    tr {
                        td { (cell) }
                        td.num { (thousands(*n)) }
                        td.num { (percent(*n as f64 / g.buyers.max(1) as f64)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Rfm, "RFM", body))
}
