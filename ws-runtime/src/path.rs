//! Route path patterns with `{name}` segments, and the parameters they match: a leaf
//! that routes, extractors and sessions share. The grammar is `ws-dsl`'s, shared with
//! `#[web_socket]`, which refuses the same paths at compile time.

/// Decoded `{name}` path parameters of a request, in route order.
pub type PathParams = ws_dsl::path::PathParams;

/// Why a route path is not valid (the grammar is shared with `#[web_socket]`, which
/// refuses the same paths at compile time).
pub use ws_dsl::path::PathError;

/// A parsed route path such as `/chat/{room}`.
///
/// The grammar (`/` first, whole-segment `{name}` parameters, each name once) is the
/// one `#[web_socket]` checks at compile time.
#[derive(Clone, Debug)]
pub struct PathPattern {
    raw: String,
    /// `None` for a path that did not parse: it matches nothing (the route's
    /// `path_error` stops the server at start-up).
    parsed: Option<ws_dsl::path::PathPattern>,
}

impl PathPattern {
    /// Parses and checks a route path.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let parsed = ws_dsl::path::PathPattern::parse(path)?;
        Ok(Self {
            raw: path.to_string(),
            parsed: Some(parsed),
        })
    }

    /// A pattern for a path that did not parse: it matches nothing.
    pub(crate) fn invalid(path: &str) -> Self {
        Self {
            raw: path.to_string(),
            parsed: None,
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parameter names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.parsed.iter().flat_map(|p| p.param_names())
    }

    /// Whether two patterns match exactly the same paths (`/a/{x}` and `/a/{y}` do).
    pub fn same_shape(&self, other: &PathPattern) -> bool {
        match (&self.parsed, &other.parsed) {
            (Some(a), Some(b)) => a.same_shape(b),
            (None, None) => true,
            (Some(_), None) | (None, Some(_)) => false,
        }
    }

    /// Matches a request path; on success the decoded parameters and the number of
    /// static segments (more is a better match).
    pub(crate) fn matches(&self, path: &str) -> Option<(PathParams, usize)> {
        self.parsed.as_ref()?.matches(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The grammar itself is tested in `ws-dsl`; these check the wrapper.
    #[test]
    fn wraps_the_shared_grammar() {
        let p = PathPattern::parse("/chat/{room}/users/{id}").unwrap();
        assert_eq!(p.as_str(), "/chat/{room}/users/{id}");
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["room", "id"]);
        let (params, statics) = p.matches("/chat/lobby%20one/users/7").unwrap();
        assert_eq!(statics, 2);
        assert_eq!(&*params[0].1, "lobby one");
        assert!(matches!(
            PathPattern::parse("/{a}/{a}"),
            Err(PathError::Duplicate { .. })
        ));
        assert!(p.same_shape(&PathPattern::parse("/chat/{r}/users/{i}").unwrap()));
    }
}
