//! Every management route with the scope it needs.
//!
//! Management routes are declared through [`Management`] only: each one
//! names its method, its path and its scope, so no route can be added
//! without a decision, and the table of decisions can be listed
//! ([`crate::management_routes`]) and tested.
//!
//! The rule: what changes nothing is `read` (every GET, and the POSTs that
//! only compute: a segment preview, a campaigns diff); what creates, changes,
//! deletes, sends or hands out credentials is `full` (listing the write keys
//! is `full`: a write key is a credential).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use seglab_store::Scope;

use super::Granted;
use crate::AppState;
use crate::error::{ApiError, ErrorKind};

/// One management route and the scope it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementRoute {
    pub method: Method,
    /// The route's pattern, as axum matches it (`/api/v1/segments/{name}`).
    pub path: &'static str,
    pub scope: Scope,
}

/// Management routes under construction: the router and its table.
#[derive(Default)]
pub(crate) struct Management {
    router: Router<Arc<AppState>>,
    routes: Vec<ManagementRoute>,
}

impl Management {
    pub fn new() -> Management {
        Management::default()
    }

    /// A route that changes nothing: a `read` token may call it.
    pub fn read<H, T>(self, method: Method, path: &'static str, handler: H) -> Management
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.add(Scope::Read, method, path, handler)
    }

    /// A route that changes something: it needs a `full` token.
    pub fn full<H, T>(self, method: Method, path: &'static str, handler: H) -> Management
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.add(Scope::Full, method, path, handler)
    }

    fn add<H, T>(
        mut self,
        scope: Scope,
        method: Method,
        path: &'static str,
        handler: H,
    ) -> Management
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} cannot be routed"));
        let route = on(filter, handler).route_layer(from_fn_with_state(scope, require_scope));
        self.router = self.router.route(path, route);
        self.routes.push(ManagementRoute {
            method,
            path,
            scope,
        });
        self
    }

    pub fn merge(mut self, other: Management) -> Management {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }

    pub fn into_parts(self) -> (Router<Arc<AppState>>, Vec<ManagementRoute>) {
        (self.router, self.routes)
    }
}

/// The scope check of one route: behind [`super::admin_only`], which notes
/// what the request was granted (a request without that note is refused).
async fn require_scope(State(needed): State<Scope>, request: Request, next: Next) -> Response {
    match request.extensions().get::<Granted>() {
        Some(g) if g.scope.allows(needed) => next.run(request).await,
        granted => {
            let has =
                granted.map_or_else(|| "none".to_owned(), |g| format!("the `{}` scope", g.scope));
            ApiError::new(
                ErrorKind::Forbidden,
                "forbidden",
                format!("this needs an admin token with the `{needed}` scope; this one has {has}"),
            )
            .into_response()
        }
    }
}
