//! `http.route` from the endpoint tree's templates: `/users/42` → `/users/{id}`.
use capture::exchange::Exchange;

use crate::ui::endpoints::{EndpointTree, OTHER, ROOT};

/// Nodes in the exporter's own tree. The exporter only needs the templates, and it never takes
/// exchanges back out, so the cap is what bounds its memory (~1.5 KiB a node).
pub const MAX_NODES: usize = 4096;

pub struct Routes {
    tree: EndpointTree,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            tree: EndpointTree::with_max_nodes(MAX_NODES),
        }
    }
}

impl Routes {
    /// The route of `x`, or None when the tree could not place its whole path (a cap folded
    /// part of it into "(other)"): a wrong route is worse than none.
    pub fn route(&mut self, x: &Exchange) -> Option<String> {
        let node = self.tree.insert(x);
        if node == ROOT {
            return None;
        }
        let template = self.tree.template(node);
        let route = match template.split_once('/') {
            Some((_host, path)) => format!("/{path}"),
            None => "/".to_string(),
        };
        let path = x.path_str();
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let wanted = path.split('/').filter(|s| !s.is_empty()).count();
        let got = route.split('/').filter(|s| !s.is_empty()).count();
        let folded = route.split('/').any(|s| s == OTHER);
        (got == wanted && !folded).then_some(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::exchange::{Protocol, Request, Role};

    fn get(host: &str, target: &str) -> Exchange {
        Exchange {
            id: 0,
            pid: 1,
            comm: "c".into(),
            protocol: Protocol::Http1,
            tls: false,
            role: Role::Client,
            conn_id: 0,
            local_addr: None,
            peer_addr: None,
            stream_id: None,
            request: Request {
                method: "GET".into(),
                target: target.into(),
                headers: vec![("Host".into(), host.into())],
                ..Request::default()
            },
            response: None,
            start: 0,
            end: None,
            request_end: None,
            response_start: None,
            error: None,
        }
    }

    #[test]
    fn routes_fold_ids_and_keep_the_path_only() {
        let mut r = Routes::default();
        assert_eq!(
            r.route(&get("api.test", "/users/42?x=1")).as_deref(),
            Some("/users/{id}")
        );
        assert_eq!(r.route(&get("api.test", "/")).as_deref(), Some("/"));
        assert_eq!(
            r.route(&get("api.test", "http://api.test/v1/orders/7"))
                .as_deref(),
            Some("/v1/orders/{id}")
        );
    }

    #[test]
    fn no_route_once_the_tree_is_full() {
        let mut r = Routes::default();
        let mut none = 0;
        for i in 0..(MAX_NODES + 10) {
            if r.route(&get("api.test", &format!("/p{i}x/leaf"))).is_none() {
                none += 1;
            }
        }
        assert!(none > 0);
    }
}
