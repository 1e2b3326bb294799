//! Policy strings: the `*` and `?` wildcards of `Action`, `Resource` and
//! `StringLike`, and the policy variables of `Version` 2012-10-17.
//!
//! A string is parsed once into [`Pattern`] pieces so that a variable's value
//! and the escapes `${*}`, `${?}`, `${$}` always stay literal text, and a raw
//! `*` or `?` is the only wildcard. Matching is iterative with one backtrack
//! point, so it is linear-ish in practice and never exponential.
//!
//! Variables: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>.

use std::borrow::Cow;

use super::Principal;

/// A policy variable this gateway can fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Variable {
    /// `${aws:username}`: the access key; undefined for an assumed role (its
    /// session name is the caller's choice).
    UserName,
    /// `${aws:userid}`: the access key; for an assumed role, `ROLE:SESSION`.
    UserId,
    /// `${jwt:CLAIM}` (MinIO's spelling): a string claim of the identity
    /// token an assumed role's session came from.
    Jwt(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text (also what `${*}`, `${?}` and `${$}` stand for).
    Text(String),
    /// A raw `*`: any run of characters (a literal `*` outside `StringLike`).
    Star,
    /// A raw `?`: exactly one character (a literal `?` outside `StringLike`).
    Question,
    Var(Variable),
}

/// A policy string with its wildcards and variables located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Vec<Piece>,
}

/// One element of a resolved pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Char(char),
    Star,
    Question,
}

impl Pattern {
    /// Parse `s`. With `variables`, `${...}` is a policy variable (only those
    /// listed in the module docs; any other is an error); without, `$` is
    /// plain text and `${` is refused, because AWS would then match it
    /// literally and a `Deny` written for a variable would silently not apply.
    pub fn parse(s: &str, variables: bool) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if c == '$' && rest.starts_with("${") {
                if !variables {
                    return Err(format!(
                        "\"{s}\" uses a policy variable, which needs \"Version\": \"2012-10-17\""
                    ));
                }
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("\"{s}\" has an unterminated policy variable"))?;
                let name = &rest[2..end];
                let trimmed = name.trim();
                let claim = trimmed
                    .get(..4)
                    .filter(|p| p.eq_ignore_ascii_case("jwt:"))
                    .map(|_| &trimmed[4..])
                    .filter(|c| !c.is_empty());
                match (trimmed.to_ascii_lowercase().as_str(), claim) {
                    ("*", _) => text.push('*'),
                    ("?", _) => text.push('?'),
                    ("$", _) => text.push('$'),
                    (_, Some(claim)) => {
                        flush(&mut pieces, &mut text);
                        pieces.push(Piece::Var(Variable::Jwt(claim.to_owned())));
                    }
                    ("aws:username", _) => {
                        flush(&mut pieces, &mut text);
                        pieces.push(Piece::Var(Variable::UserName));
                    }
                    ("aws:userid", _) => {
                        flush(&mut pieces, &mut text);
                        pieces.push(Piece::Var(Variable::UserId));
                    }
                    _ => {
                        return Err(format!(
                            "\"{s}\" uses the unsupported policy variable ${{{name}}} \
                             (supported: ${{aws:username}}, ${{aws:userid}}, ${{jwt:CLAIM}}, \
                             ${{*}}, ${{?}}, ${{$}})"
                        ))
                    }
                }
                rest = &rest[end + 1..];
                continue;
            }
            match c {
                '*' | '?' => {
                    flush(&mut pieces, &mut text);
                    pieces.push(if c == '*' {
                        Piece::Star
                    } else {
                        Piece::Question
                    });
                }
                _ => text.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut pieces, &mut text);
        Ok(Self { pieces })
    }

    /// A pattern without variables, lower-cased (for case-insensitive actions).
    pub fn parse_lowercase(s: &str) -> Self {
        let mut pattern = Self { pieces: Vec::new() };
        let mut text = String::new();
        for c in s.chars() {
            match c {
                '*' | '?' => {
                    flush(&mut pattern.pieces, &mut text);
                    pattern.pieces.push(if c == '*' {
                        Piece::Star
                    } else {
                        Piece::Question
                    });
                }
                _ => text.push(c.to_ascii_lowercase()),
            }
        }
        flush(&mut pattern.pieces, &mut text);
        pattern
    }

    /// The pattern as plain text, raw wildcards included; None when a
    /// variable has no value for `principal` (AWS: the value is then null,
    /// and nothing equals it).
    pub fn literal(&self, principal: Principal<'_>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Star => out.push('*'),
                Piece::Question => out.push('?'),
                Piece::Var(v) => out.push_str(&resolve(v, principal)?),
            }
        }
        Some(out)
    }

    /// Wildcard match of the whole of `subject`; false when a variable has no
    /// value for `principal`.
    pub fn matches(&self, subject: &str, principal: Principal<'_>) -> bool {
        let mut elems = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => elems.extend(t.chars().map(Elem::Char)),
                Piece::Star => elems.push(Elem::Star),
                Piece::Question => elems.push(Elem::Question),
                Piece::Var(v) => match resolve(v, principal) {
                    Some(value) => elems.extend(value.chars().map(Elem::Char)),
                    None => return false,
                },
            }
        }
        glob(&elems, subject)
    }
}

fn flush(pieces: &mut Vec<Piece>, text: &mut String) {
    if !text.is_empty() {
        pieces.push(Piece::Text(std::mem::take(text)));
    }
}

impl Pattern {
    /// The claims `${jwt:...}` variables of this pattern name.
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(Variable::Jwt(c)) => Some(c.as_str()),
            _ => None,
        })
    }
}

/// A variable's value for `principal`; None when it has none (anonymous
/// callers, a claim the token did not have or that is a list).
fn resolve<'a>(var: &Variable, principal: Principal<'a>) -> Option<Cow<'a, str>> {
    match (var, principal) {
        (Variable::UserName | Variable::UserId, Principal::AccessKey(key)) => {
            Some(Cow::Borrowed(key))
        }
        // No `${aws:username}` for assumed roles (AWS's rule): the session
        // name is the caller's choice.
        (Variable::UserId, Principal::Session(s)) => Some(Cow::Owned(s.user_id())),
        (Variable::Jwt(claim), _) => principal
            .claims()
            .and_then(|c| c.get(claim))
            .and_then(|v| v.text())
            .map(Cow::Borrowed),
        (Variable::UserName | Variable::UserId, _) => None,
    }
}

/// Whole-string wildcard match: on a mismatch, retry from the last `*` with
/// it swallowing one more character.
fn glob(pattern: &[Elem], subject: &str) -> bool {
    let subject: Vec<char> = subject.chars().collect();
    let (mut p, mut s) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while s < subject.len() {
        match pattern.get(p) {
            Some(Elem::Star) => {
                backtrack = Some((p, s));
                p += 1;
            }
            Some(Elem::Question) => {
                p += 1;
                s += 1;
            }
            Some(Elem::Char(c)) if *c == subject[s] => {
                p += 1;
                s += 1;
            }
            _ => match backtrack {
                Some((star, from)) => {
                    backtrack = Some((star, from + 1));
                    p = star + 1;
                    s = from + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|e| *e == Elem::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Principal<'static> = Principal::AccessKey("alice");

    #[test]
    fn wildcards() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("a*", "a", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("home/*/x", "home/a/b/x", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("Case", "case", false),
            ("**?", "", false),
            ("**?", "z", true),
        ];
        for (pattern, subject, want) in cases {
            let p = Pattern::parse(pattern, true).unwrap();
            assert_eq!(p.matches(subject, ALICE), *want, "{pattern} vs {subject}");
        }
    }

    #[test]
    fn no_exponential_backtracking() {
        let p = Pattern::parse(&"*a".repeat(30), false).unwrap();
        assert!(!p.matches(&"a".repeat(29), ALICE));
        assert!(p.matches(&"a".repeat(200), ALICE));
    }

    #[test]
    fn variables_and_escapes() {
        let p = Pattern::parse("home/${aws:username}/*", true).unwrap();
        assert!(p.matches("home/alice/notes", ALICE));
        assert!(!p.matches("home/bob/notes", ALICE));
        assert!(!p.matches("home//notes", Principal::Anonymous));
        assert_eq!(p.literal(ALICE).as_deref(), Some("home/alice/*"));
        assert_eq!(p.literal(Principal::Anonymous), None);

        let p = Pattern::parse("a${*}b${?}${$}${ AWS:UserId }", true).unwrap();
        assert!(p.matches("a*b?$alice", ALICE));
        assert!(!p.matches("axb?$alice", ALICE), "escaped * is literal");

        // A variable's value is literal text, even if it holds a wildcard.
        let p = Pattern::parse("${aws:username}", true).unwrap();
        assert!(!p.matches("anything", Principal::AccessKey("*")));
    }

    #[test]
    fn variable_errors() {
        assert!(Pattern::parse("${aws:SourceIp}", true)
            .unwrap_err()
            .contains("unsupported policy variable"));
        assert!(Pattern::parse("x${aws:username", true)
            .unwrap_err()
            .contains("unterminated"));
        assert!(Pattern::parse("${aws:username}", false)
            .unwrap_err()
            .contains("2012-10-17"));
        // A lone `$` is text.
        assert!(Pattern::parse("a$b", false).unwrap().matches("a$b", ALICE));
    }

    #[test]
    fn lowercase_actions() {
        let p = Pattern::parse_lowercase("s3:Get*");
        assert!(p.matches("s3:getobject", ALICE));
        assert!(!p.matches("s3:putobject", ALICE));
    }
}
