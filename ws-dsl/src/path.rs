//! The route path grammar: `/chat/{room}/users/{id}`.
//!
//! A route path starts with `/`; its segments are separated by `/`; a segment is either
//! literal text or a whole-segment parameter `{name}`, whose name is an identifier
//! (ASCII letters, digits and `_`, not starting with a digit) used once per path.
//!
//! [`scan`] reads a path once and reports every [`Problem`] with it, as
//! `#[web_socket("/path")]` does at compile time (each with the message the macro
//! prints); [`PathPattern::parse`] is the same scan for the runtime, which refuses a
//! path with the first problem as a [`PathError`]. Two problems only the macro
//! refuses ([`Problem::is_runtime_error`]): a `?` or `#`, and whitespace (such a route
//! can never match a request path, but `Route::new` has always accepted them).
//!
//! ```
//! use ws_dsl::path::{scan, PathPattern, Problem};
//!
//! let pattern = PathPattern::parse("/chat/{room}").unwrap();
//! let (params, statics) = pattern.matches("/chat/lobby%20one").unwrap();
//! assert_eq!((&*params[0].0, &*params[0].1, statics), ("room", "lobby one", 1));
//!
//! let scanned = scan("/a/{x}/{x}");
//! assert_eq!(scanned.problems, [Problem::Duplicate("x".into())]);
//! assert_eq!(
//!     scanned.problems[0].message("/a/{x}/{x}"),
//!     "parameter `{x}` appears twice in route path `/a/{x}/{x}`: each name is used once"
//! );
//! ```

use std::fmt;

/// A literal or `{name}` segment of a route path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Text that must match exactly.
    Static(String),
    /// `{name}`: any non-empty segment, percent-decoded.
    Param(String),
}

/// One thing wrong with a route path, in the order [`scan`] finds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The path is `""`.
    Empty,
    /// The path does not start with `/`.
    NoLeadingSlash,
    /// The path contains `?` or `#` (the first of them).
    QueryOrFragment(char),
    /// The path contains whitespace.
    Whitespace,
    /// A `{` inside a parameter.
    NestedBrace,
    /// A `}` without a `{`.
    UnopenedBrace,
    /// A `{` that is never closed.
    UnclosedBrace,
    /// A segment that mixes text and braces, such as `x{id}`.
    MixedSegment(String),
    /// `{}`.
    EmptyParam,
    /// A parameter name that is not an identifier.
    BadName(String),
    /// A parameter name used twice.
    Duplicate(String),
}

impl Problem {
    /// The compile-time message for this problem in `path`: lowercase, saying what is
    /// accepted.
    pub fn message(&self, path: &str) -> String {
        match self {
            Problem::Empty => {
                "the route path is empty: it starts with `/`, e.g. `\"/chat\"`".to_string()
            }
            Problem::NoLeadingSlash => {
                format!("route path `{path}` must start with `/`: write `\"/{path}\"`")
            }
            Problem::QueryOrFragment(c) => format!(
                "route path `{path}` contains `{c}`: a route matches the path only; take `Query<T>` to read the query"
            ),
            Problem::Whitespace => {
                format!("route path `{path}` contains whitespace: percent-encode it (`%20`)")
            }
            Problem::NestedBrace => format!(
                "unbalanced braces in route path `{path}`: `{{` inside a parameter; a parameter is `{{name}}`"
            ),
            Problem::UnopenedBrace => format!(
                "unbalanced braces in route path `{path}`: `}}` without `{{`; a parameter is `{{name}}`"
            ),
            Problem::UnclosedBrace => format!(
                "unbalanced braces in route path `{path}`: a `{{` is never closed; a parameter is `{{name}}`"
            ),
            Problem::MixedSegment(segment) => format!(
                "segment `{segment}` of route path `{path}` mixes text and a parameter: a parameter is a whole segment, `/{{name}}`"
            ),
            Problem::EmptyParam => {
                format!("route path `{path}` has an empty parameter `{{}}`: name it, e.g. `{{id}}`")
            }
            Problem::BadName(name) => format!(
                "invalid parameter name `{name}` in route path `{path}`: use letters, digits and `_`, not starting with a digit"
            ),
            Problem::Duplicate(name) => format!(
                "parameter `{{{name}}}` appears twice in route path `{path}`: each name is used once"
            ),
        }
    }

    /// Whether the runtime refuses a path with this problem too. `?`, `#` and
    /// whitespace are refused by the macro only: such a route never matches, and
    /// `Route::new` has always accepted them.
    pub fn is_runtime_error(&self) -> bool {
        match self {
            Problem::QueryOrFragment(_) | Problem::Whitespace => false,
            Problem::Empty
            | Problem::NoLeadingSlash
            | Problem::NestedBrace
            | Problem::UnopenedBrace
            | Problem::UnclosedBrace
            | Problem::MixedSegment(_)
            | Problem::EmptyParam
            | Problem::BadName(_)
            | Problem::Duplicate(_) => true,
        }
    }

    /// The runtime's error for this problem in `path`, if the runtime refuses it.
    pub fn to_path_error(&self, path: &str) -> Option<PathError> {
        let path = path.to_string();
        Some(match self {
            Problem::QueryOrFragment(_) | Problem::Whitespace => return None,
            Problem::Empty | Problem::NoLeadingSlash => PathError::NoLeadingSlash(path),
            Problem::NestedBrace
            | Problem::UnopenedBrace
            | Problem::UnclosedBrace
            | Problem::MixedSegment(_) => PathError::Braces(path),
            Problem::EmptyParam => PathError::BadName {
                path,
                name: String::new(),
            },
            Problem::BadName(name) => PathError::BadName {
                path,
                name: name.clone(),
            },
            Problem::Duplicate(name) => PathError::Duplicate {
                path,
                name: name.clone(),
            },
        })
    }
}

/// A path read by [`scan`]: its segments and everything wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The segments after the leading `/`, those with a problem left out. Empty when
    /// the braces do not pair up (then segment checks would only add noise).
    pub segments: Vec<Segment>,
    /// Every problem, in order: the path as a whole first, then each segment.
    pub problems: Vec<Problem>,
}

impl Scan {
    /// The valid parameter names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        param_names(&self.segments)
    }
}

fn param_names(segments: &[Segment]) -> impl Iterator<Item = &str> {
    segments.iter().filter_map(|s| match s {
        Segment::Param(name) => Some(name.as_str()),
        Segment::Static(_) => None,
    })
}

/// Whether `name` is a parameter name: ASCII letters, digits and `_`, not starting with
/// a digit, not empty.
pub fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a route path, finding every problem with it.
pub fn scan(path: &str) -> Scan {
    let mut scan = Scan {
        segments: Vec::new(),
        problems: Vec::new(),
    };
    if path.is_empty() {
        scan.problems.push(Problem::Empty);
        return scan;
    }
    if !path.starts_with('/') {
        scan.problems.push(Problem::NoLeadingSlash);
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '?' | '#')) {
        scan.problems.push(Problem::QueryOrFragment(c));
    }
    if path.chars().any(char::is_whitespace) {
        scan.problems.push(Problem::Whitespace);
    }
    // Braces first: when they do not pair up, segment checks would only add noise.
    let mut open = false;
    for c in path.chars() {
        match (c, open) {
            ('{', true) => {
                scan.problems.push(Problem::NestedBrace);
                return scan;
            }
            ('}', false) => {
                scan.problems.push(Problem::UnopenedBrace);
                return scan;
            }
            ('{', false) => open = true,
            ('}', true) => open = false,
            _ => {}
        }
    }
    if open {
        scan.problems.push(Problem::UnclosedBrace);
        return scan;
    }
    for segment in path.strip_prefix('/').unwrap_or(path).split('/') {
        if !segment.contains(['{', '}']) {
            scan.segments.push(Segment::Static(segment.to_string()));
            continue;
        }
        let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            scan.problems
                .push(Problem::MixedSegment(segment.to_string()));
            continue;
        };
        if name.is_empty() {
            scan.problems.push(Problem::EmptyParam);
        } else if !is_param_name(name) {
            scan.problems.push(Problem::BadName(name.to_string()));
        } else if param_names(&scan.segments).any(|p| p == name) {
            scan.problems.push(Problem::Duplicate(name.to_string()));
        } else {
            scan.segments.push(Segment::Param(name.to_string()));
        }
    }
    scan
}

/// Why the runtime refuses a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`.
    NoLeadingSlash(String),
    /// Braces do not pair up, or a segment mixes text and a parameter.
    Braces(String),
    /// A parameter name is empty or not an identifier.
    BadName {
        /// The path.
        path: String,
        /// The offending name.
        name: String,
    },
    /// Two parameters share a name.
    Duplicate {
        /// The path.
        path: String,
        /// The repeated name.
        name: String,
    },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NoLeadingSlash(path) => {
                write!(f, "route path `{path}` must start with `/`")
            }
            PathError::Braces(path) => write!(
                f,
                "route path `{path}` has unbalanced or misplaced braces: a parameter is a whole segment `{{name}}`"
            ),
            PathError::BadName { path, name } => write!(
                f,
                "route path `{path}` has an invalid parameter name `{name}`: use letters, digits and `_`, not starting with a digit"
            ),
            PathError::Duplicate { path, name } => {
                write!(
                    f,
                    "route path `{path}` uses the parameter name `{name}` twice"
                )
            }
        }
    }
}

impl std::error::Error for PathError {}

/// Decoded `{name}` parameters of a request path, in route order.
pub type PathParams = Vec<(Box<str>, Box<str>)>;

/// A valid route path such as `/chat/{room}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    raw: String,
    segments: Vec<Segment>,
}

impl PathPattern {
    /// Parses a route path: the first problem [`scan`] finds that the runtime refuses
    /// ([`Problem::is_runtime_error`]) is the error.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let scanned = scan(path);
        if let Some(error) = scanned
            .problems
            .iter()
            .find_map(|problem| problem.to_path_error(path))
        {
            return Err(error);
        }
        Ok(Self {
            raw: path.to_string(),
            segments: scanned.segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The segments after the leading `/`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The parameter names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        param_names(&self.segments)
    }

    /// Whether two patterns match exactly the same paths (`/a/{x}` and `/a/{y}` do).
    pub fn same_shape(&self, other: &PathPattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Static(a), Segment::Static(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_)) => true,
                    (Segment::Static(_), Segment::Param(_))
                    | (Segment::Param(_), Segment::Static(_)) => false,
                })
    }

    /// Matches a request path; on success the decoded parameters and the number of
    /// static segments (more is a better match). A parameter matches a non-empty
    /// segment whose `%XX` escapes decode to UTF-8.
    pub fn matches(&self, path: &str) -> Option<(PathParams, usize)> {
        let rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        let mut statics = 0;
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Static(s) => {
                    if s != part {
                        return None;
                    }
                    statics += 1;
                }
                Segment::Param(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    let value = percent_decode(part)?;
                    params.push((name.as_str().into(), value.into()));
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some((params, statics))
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_string());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits: `from_str_radix` alone would also take a sign (`%+0`).
            let hex = input
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(path: &str) -> Vec<Problem> {
        scan(path).problems
    }

    #[test]
    fn parses_and_matches_params() {
        let p = PathPattern::parse("/chat/{room}/users/{id}").unwrap();
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["room", "id"]);
        let (params, statics) = p.matches("/chat/lobby%20one/users/7").unwrap();
        assert_eq!(statics, 2);
        assert_eq!(&*params[0].1, "lobby one");
        assert_eq!(&*params[1].1, "7");
        assert!(p.matches("/chat/lobby/users").is_none());
        assert!(p.matches("/chat//users/7").is_none());
        assert!(p.matches("/chat/a/users/7/more").is_none());
        assert!(p.matches("chat/a/users/7").is_none());
        assert!(p.matches("/chat/%ff/users/7").is_none(), "not UTF-8");
        assert!(p.matches("/chat/%4/users/7").is_none(), "malformed escape");
    }

    #[test]
    fn root_and_trailing_slash() {
        let root = PathPattern::parse("/").unwrap();
        assert!(root.matches("/").is_some());
        assert!(root.matches("/a").is_none());
        let trailing = PathPattern::parse("/a/").unwrap();
        assert!(trailing.matches("/a/").is_some());
        assert!(trailing.matches("/a").is_none());
    }

    #[test]
    fn runtime_errors() {
        assert!(matches!(
            PathPattern::parse("chat"),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(
            PathPattern::parse(""),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{b"),
            Err(PathError::Braces(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/x{b}"),
            Err(PathError::Braces(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{b}}"),
            Err(PathError::Braces(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{1b}"),
            Err(PathError::BadName { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/a/{}"),
            Err(PathError::BadName { name, .. }) if name.is_empty()
        ));
        assert!(matches!(
            PathPattern::parse("/{a}/{a}"),
            Err(PathError::Duplicate { .. })
        ));
        assert_eq!(
            PathPattern::parse("/{a}/{a}").unwrap_err().to_string(),
            "route path `/{a}/{a}` uses the parameter name `a` twice"
        );
        // Refused by the macro only.
        assert!(PathPattern::parse("/a?b").is_ok());
        assert!(PathPattern::parse("/a b").is_ok());
    }

    #[test]
    fn every_problem_of_a_path_at_once() {
        assert_eq!(problems("/chat/{room}"), []);
        assert_eq!(problems(""), [Problem::Empty]);
        assert_eq!(
            problems("chat?x y"),
            [
                Problem::NoLeadingSlash,
                Problem::QueryOrFragment('?'),
                Problem::Whitespace
            ]
        );
        assert_eq!(problems("/{a{b}}"), [Problem::NestedBrace]);
        assert_eq!(problems("/a}"), [Problem::UnopenedBrace]);
        assert_eq!(problems("/{a"), [Problem::UnclosedBrace]);
        assert_eq!(
            problems("/x{a}/{}/{1a}/{b}/{b}"),
            [
                Problem::MixedSegment("x{a}".into()),
                Problem::EmptyParam,
                Problem::BadName("1a".into()),
                Problem::Duplicate("b".into()),
            ]
        );
        let scanned = scan("/{a}/{1a}/{b}");
        assert_eq!(scanned.param_names().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn messages() {
        assert_eq!(
            Problem::NoLeadingSlash.message("chat"),
            "route path `chat` must start with `/`: write `\"/chat\"`"
        );
        assert_eq!(
            Problem::UnclosedBrace.message("/{a"),
            "unbalanced braces in route path `/{a`: a `{` is never closed; a parameter is `{name}`"
        );
        assert_eq!(
            Problem::MixedSegment("x{a}".into()).message("/x{a}"),
            "segment `x{a}` of route path `/x{a}` mixes text and a parameter: a parameter is a whole segment, `/{name}`"
        );
    }

    #[test]
    fn same_shape_ignores_param_names() {
        let a = PathPattern::parse("/a/{x}").unwrap();
        let b = PathPattern::parse("/a/{y}").unwrap();
        let c = PathPattern::parse("/a/b").unwrap();
        assert!(a.same_shape(&b));
        assert!(!a.same_shape(&c));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%"), None);
        // A sign is not a hex digit (fuzz finding `handshake/signed-escape`).
        assert_eq!(percent_decode("%+0"), None);
        assert_eq!(percent_decode("%-1"), None);
    }
}
