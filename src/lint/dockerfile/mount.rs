//! `RUN --mount=...` options, read like BuildKit does
//! (frontend/dockerfile/instructions/commands_runmount.go `parseMount`): the value is
//! one CSV record (Go's encoding/csv, so a field may be quoted with `"`), each field
//! `key=value` with a case-insensitive key, in any order, every value expanded with the
//! stage's variables. The type defaults to `bind`.

use super::expand::{Scope, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sharing {
    Shared,
    Private,
    Locked,
    /// Set from a variable the file does not resolve.
    Unknown,
}

/// One `--mount`, as written and as expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountSpec {
    pub kind: MountType,
    pub target: Option<Value>,
    pub id: Option<Value>,
    pub sharing: Sharing,
    pub from: Option<String>,
    pub source: Option<Value>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<String>,
}

/// Splits a CSV record: commas separate fields, a field that starts with `"` runs to
/// its closing `"` (`""` is a quote inside it).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field in --mount is not closed".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => {
                    return Err(format!("{c:?} after a quoted field in --mount"));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a bare \" in a --mount field".into()),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Parses one `--mount` value. An error is what BuildKit would refuse the build for.
pub(crate) fn parse(value: &str, scope: &Scope, escape: char) -> Result<MountSpec, String> {
    let mut m = MountSpec {
        kind: MountType::Bind,
        target: None,
        id: None,
        sharing: Sharing::Shared,
        from: None,
        source: None,
        uid: None,
        gid: None,
        mode: None,
    };
    for field in csv_fields(value)? {
        let (key, raw) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v),
            None => {
                match field.to_ascii_lowercase().as_str() {
                    "ro" | "readonly" | "rw" | "readwrite" | "required" => continue,
                    _ => {}
                }
                return Err(format!("invalid field {field:?}: must be a key=value pair"));
            }
        };
        let v = scope.expand(raw, escape);
        match key.as_str() {
            "type" => {
                m.kind = match v.text.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ if v.unresolved => MountType::Other(v.text.clone()),
                    other => return Err(format!("unsupported mount type {other:?}")),
                }
            }
            "from" => m.from = Some(raw.to_string()),
            "source" | "src" => m.source = Some(v),
            "target" | "dst" | "destination" => m.target = Some(v),
            "id" => m.id = Some(v),
            "sharing" => {
                m.sharing = match v.text.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ if v.unresolved => Sharing::Unknown,
                    other => return Err(format!("unsupported sharing value {other:?}")),
                }
            }
            "uid" => m.uid = Some(number(&v, 10, "uid")?),
            "gid" => m.gid = Some(number(&v, 10, "gid")?),
            "mode" => m.mode = Some(number(&v, 8, "mode")?),
            "ro" | "readonly" | "rw" | "readwrite" | "required" | "size" | "env" => {}
            other => return Err(format!("unexpected key {other:?} in --mount")),
        }
    }
    Ok(m)
}

/// A number as BuildKit reads it, normalised (`0755` and `755` are one mode); a value
/// the file cannot resolve is kept as written.
fn number(v: &Value, radix: u32, what: &str) -> Result<String, String> {
    if v.unresolved {
        return Ok(v.text.clone());
    }
    u32::from_str_radix(&v.text, radix)
        .map(|n| {
            if radix == 8 {
                format!("0{n:o}")
            } else {
                n.to_string()
            }
        })
        .map_err(|_| format!("invalid value {:?} for {what}", v.text))
}

#[cfg(test)]
mod tests {
    use super::super::expand::Var;
    use super::*;

    fn p(s: &str) -> MountSpec {
        parse(s, &Scope::default(), '\\').unwrap()
    }

    #[test]
    fn options_in_any_order_and_defaults() {
        let m = p("target=/usr/local/cargo/registry,type=cache");
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.sharing, Sharing::Shared);
        assert_eq!(m.target.unwrap().text, "/usr/local/cargo/registry");
        let m = p("sharing=LOCKED,Type=cache,dst=/x,id=x,uid=1000,gid=1000,mode=0755");
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.uid.as_deref(), Some("1000"));
        assert_eq!(m.mode.as_deref(), Some("0755"));
        assert_eq!(p("target=/x").kind, MountType::Bind);
        assert!(p("type=cache,target=/x,ro").target.is_some());
    }

    #[test]
    fn quoted_fields() {
        let m = p(r#"type=cache,"target=/a,b","id=c""d""#);
        assert_eq!(m.target.unwrap().text, "/a,b");
        // CSV gives `c"d`; the shell word expansion after it takes the quote as quoting.
        assert_eq!(m.id.unwrap().text, "cd");
        assert!(parse(r#"type=cache,target="/x""#, &Scope::default(), '\\').is_err());
        assert!(parse(r#""type=cache"#, &Scope::default(), '\\').is_err());
    }

    #[test]
    fn variables_in_options() {
        let mut s = Scope::default();
        s.vars.insert("SERVICE".into(), Var::ArgUnset);
        let m = parse(
            "type=cache,id=target-${SERVICE},target=/app/target",
            &s,
            '\\',
        )
        .unwrap();
        let id = m.id.unwrap();
        assert!(id.from_args);
        assert_eq!(id.text, "target-${SERVICE}");
        let m = parse("type=cache,target=/x,sharing=$MODE", &s, '\\').unwrap();
        assert_eq!(m.sharing, Sharing::Unknown);
    }

    #[test]
    fn refused_values() {
        for bad in [
            "type=volume,target=/x",
            "type=cache,target=/x,sharing=sometimes",
            "type=cache,target=/x,uid=root",
            "type=cache,target=/x,mode=999",
            "type=cache,target=/x,colour=blue",
            "type=cache,target",
        ] {
            assert!(parse(bad, &Scope::default(), '\\').is_err(), "{bad}");
        }
    }
}
