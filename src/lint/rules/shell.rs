//! Just enough of a shell reader to find commands in a `run:` script: words split on
//! blanks outside quotes, commands ended by newlines, `;`, `&` and `|`, a
//! backslash-newline as a blank, `#` comments dropped. Each command keeps the offset of
//! its first word.

/// One simple command: its words (quotes removed) with their offsets.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub start: usize,
    pub words: Vec<(usize, String)>,
}

pub(crate) fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut words: Vec<(usize, String)> = Vec::new();
    let mut word: Option<(usize, String)> = None;
    let mut chars = script.char_indices().peekable();
    let end_word = |word: &mut Option<(usize, String)>, words: &mut Vec<(usize, String)>| {
        if let Some(w) = word.take() {
            words.push(w);
        }
    };
    let end_command = |words: &mut Vec<(usize, String)>, out: &mut Vec<Command>| {
        if let Some(&(start, _)) = words.first() {
            out.push(Command {
                start,
                words: std::mem::take(words),
            });
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\n')) => end_word(&mut word, &mut words),
                Some((_, n)) => word.get_or_insert_with(|| (i, String::new())).1.push(n),
                None => {}
            },
            '\'' | '"' => {
                let w = word.get_or_insert_with(|| (i, String::new()));
                for (_, q) in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    w.1.push(q);
                }
            }
            '#' if word.is_none() => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_command(&mut words, &mut out);
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                end_word(&mut word, &mut words);
                end_command(&mut words, &mut out);
            }
            c if c.is_whitespace() => end_word(&mut word, &mut words),
            c => word.get_or_insert_with(|| (i, String::new())).1.push(c),
        }
    }
    end_word(&mut word, &mut words);
    end_command(&mut words, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        commands(script)
            .into_iter()
            .map(|c| c.words.into_iter().map(|(_, w)| w).collect())
            .collect()
    }

    #[test]
    fn splits_commands_and_words() {
        assert_eq!(
            words("a b && c 'd e'\nf \\\n g # note\nh;i|j"),
            vec![
                vec!["a", "b"],
                vec!["c", "d e"],
                vec!["f", "g"],
                vec!["h"],
                vec!["i"],
                vec!["j"]
            ]
        );
        assert_eq!(commands("  x y")[0].start, 2);
    }
}
