//! `/ui/overlap`: how much segments share, as a heatmap of Jaccard indexes
//! (people in both ÷ people in either) of live memberships, with the counts
//! in each cell's tooltip and a table of the largest overlaps.

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

/// Segments in the heatmap at most (the largest).
pub const MAX_SEGMENTS: usize = 30;

/// Pairs listed under the heatmap.
const TOP_PAIRS: usize = 10;

/// `GET /ui/overlap`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> PageResult<Markup> {
    let o = blocking(&state, |s| insights::overlap(s, MAX_SEGMENTS)).await?;
    let n = o.segments.len();
    let mut pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| o.shared[i][j] > 0)
        .collect();
    pairs.sort_by(|a, b| o.jaccard[b.0][b.1].total_cmp(&o.jaccard[a.0][a.1]));
    pairs.truncate(TOP_PAIRS);
    let body = html! {
        h1 { "Overlap" }
        p.muted {
            "Each cell: the people in both segments as a share of the people in either (Jaccard index), from live memberships now."
            @if n == MAX_SEGMENTS { " The " (MAX_SEGMENTS) " largest segments are shown." }
        }
        @if n == 0 {
            p.muted { "No segments yet." }
        } @else {
            div.scroll { (svg::heatmap(&o.segments, &o.jaccard, &o.shared, "Overlap between segments (Jaccard index, %)")) }
            h2 { "Largest overlaps" }
            table.data {
                (layout::thead(&[("Segments", false), ("In both", true), ("Jaccard", true), ("Of the first", true), ("Of the second", true)]))
                tbody {
                    @for (i, j) in &pairs {
                        @let both = o.shared[*i][*j];
                        tr {
                            td {
                                a href={"/ui/segments/" (o.segments[*i])} { (o.segments[*i]) }
                                " & "
                                a href={"/ui/segments/" (o.segments[*j])} { (o.segments[*j]) }
                            }
                            td.num { (thousands(both)) }
                            td.num { (format!("{:.2}", o.jaccard[*i][*j])) }
                            td.num { (percent(both as f64 / o.sizes[*i].max(1) as f64)) }
                            td.num { (percent(both as f64 / o.sizes[*j].max(1) as f64)) }
                        }
                    }
                    @if pairs.is_empty() {
                        tr { td colspan="5" .muted { "No two segments share anyone." } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Overlap, "Overlap", body))
}
