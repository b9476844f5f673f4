//! YAML with positions: saphyr-parser's events (a maintained YAML 1.2 parser that
//! gives every event a span) built into a small tree. Building the tree here, rather
//! than with saphyr's loader, keeps hostile input bounded: nesting depth and node count
//! are capped, and an alias is copied only while the node budget allows ("billion
//! laughs" stops at the cap with an error).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

use crate::lint::finding::Pos;

/// Deepest nesting read. Workflows are a few levels deep.
const MAX_DEPTH: usize = 64;
/// Most nodes in one file, aliases expanded.
const MAX_NODES: usize = 200_000;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    /// 1-based line where the node ends.
    pub end_line: usize,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    pub(crate) fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    fn count(&self) -> usize {
        1 + match &self.kind {
            Kind::Scalar(_) => 0,
            Kind::Seq(items) => items.iter().map(Node::count).sum(),
            Kind::Map(e) => e.iter().map(|(k, v)| k.count() + v.count()).sum(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

fn pos_of(span: &Span) -> Pos {
    Pos::new(span.start.line(), span.start.col() + 1)
}

enum Frame {
    Seq(Node, usize, Vec<Node>),
    Map(Node, usize, Vec<(Node, Node)>, Option<Node>),
}

/// The first document of `text`; `Ok(None)` for an empty stream.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    let err = |span: &Span, message: String| YamlError {
        pos: pos_of(span),
        message,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos::new(e.marker().line(), e.marker().col() + 1),
            message: e.info().to_string(),
        })?;
        let shell = |kind| Node {
            pos: pos_of(&span),
            end_line: span.end.line(),
            kind,
        };
        let done: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => None,
            Event::DocumentEnd | Event::StreamEnd => {
                if stack.is_empty() {
                    break;
                }
                None
            }
            Event::Scalar(value, _, anchor, _) => {
                Some((shell(Kind::Scalar(value.into_owned())), anchor))
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(err(&span, "alias to an unknown anchor".into()));
                };
                nodes += node.count();
                if nodes > MAX_NODES {
                    return Err(err(
                        &span,
                        format!("more than {MAX_NODES} nodes once aliases are expanded"),
                    ));
                }
                Some((node.clone(), 0))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(&span, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                let node = shell(Kind::Scalar(String::new()));
                stack.push(if is_seq {
                    Frame::Seq(node, anchor, Vec::new())
                } else {
                    Frame::Map(node, anchor, Vec::new(), None)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(mut node, anchor, items)) => {
                    node.kind = Kind::Seq(items);
                    node.end_line = span.end.line().max(node.pos.line);
                    Some((node, anchor))
                }
                Some(Frame::Map(mut node, anchor, entries, _)) => {
                    node.kind = Kind::Map(entries);
                    node.end_line = span.end.line().max(node.pos.line);
                    Some((node, anchor))
                }
                None => return Err(err(&span, "unbalanced collection end".into())),
            },
        };
        let Some((node, anchor)) = done else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(err(&span, format!("more than {MAX_NODES} nodes")));
        }
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                root = Some(node);
                break;
            }
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values() {
        let src = "on: push\njobs:\n  build:\n    runs-on: [self-hosted, linux]\n    steps:\n      - run: |\n          cargo build\n";
        let root = parse(src).unwrap().unwrap();
        assert_eq!(root.get("on").unwrap().as_str(), Some("push"));
        let build = root.get("jobs").unwrap().get("build").unwrap();
        let labels = build.get("runs-on").unwrap();
        assert_eq!(labels.items()[1].as_str(), Some("linux"));
        assert_eq!(labels.items()[1].pos, Pos::new(4, 28));
        let step = &build.get("steps").unwrap().items()[0];
        assert_eq!(step.pos, Pos::new(6, 9));
        let run = step.get("run").unwrap();
        assert_eq!(run.as_str(), Some("cargo build\n"));
        // A block scalar's span starts at its first content line.
        assert_eq!((run.pos, run.end_line), (Pos::new(7, 11), 8));
    }

    #[test]
    fn aliases_are_copied_within_the_budget() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap().unwrap();
        assert_eq!(root.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("nodes"), "{e:?}");
    }

    #[test]
    fn deep_nesting_and_syntax_errors_are_errors() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let deep_block = "- ".repeat(10_000) + "x\n";
        assert!(parse(&deep_block).is_err());
        let e = parse("jobs:\n  a: [1, 2\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        assert_eq!(parse("").unwrap(), None);
    }
}
