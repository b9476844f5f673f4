//! Styles. The colour theme uses only the 16 ANSI colours, which every terminal over
//! SSH has; the monochrome one (for `NO_COLOR`) uses no colour at all and relies on
//! text (badges are words) and bold/reverse.

use ratatui::style::{Color, Modifier, Style};

use super::columns::Badge;
use crate::tui::text::Tone;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub const COLOR: Theme = Theme { color: true };
    pub const MONO: Theme = Theme { color: false };

    /// `NO_COLOR` set to anything but the empty string turns colour off (no-color.org).
    pub fn from_env(no_color: Option<&std::ffi::OsStr>) -> Theme {
        match no_color {
            Some(v) if !v.is_empty() => Theme::MONO,
            _ => Theme::COLOR,
        }
    }

    fn pick(&self, color: Style, mono: Style) -> Style {
        if self.color { color } else { mono }
    }

    pub fn title(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Cyan),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    pub fn column_heads(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn selected(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::White),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    pub fn marked(&self) -> Style {
        self.pick(
            Style::new().fg(Color::LightYellow),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn badge(&self, badge: Badge) -> Style {
        let color = match badge {
            Badge::Stale => Color::Yellow,
            Badge::Partial => Color::LightRed,
            Badge::InUse => Color::Green,
            Badge::Shared => Color::Blue,
            Badge::SizeMismatch => Color::Magenta,
            Badge::Orphaned => Color::Cyan,
        };
        self.pick(Style::new().fg(color), Style::new())
    }

    /// Text a `/` filter matched, in the rows. Without colour: underlined, which
    /// stays visible on the reversed selected row.
    pub fn filter_match(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
        )
    }

    pub fn tone(&self, tone: Tone) -> Style {
        match tone {
            Tone::Plain => Style::new(),
            Tone::Heading => Style::new().add_modifier(Modifier::BOLD),
            Tone::Good => self.pick(Style::new().fg(Color::Green), Style::new()),
            Tone::Warn => self.pick(
                Style::new().fg(Color::Yellow),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Tone::Bad => self.pick(
                Style::new().fg(Color::LightRed),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Tone::Dim => self.pick(Style::new().fg(Color::DarkGray), Style::new()),
        }
    }

    pub fn border(&self) -> Style {
        self.pick(Style::new().fg(Color::Cyan), Style::new())
    }

    pub fn danger_border(&self) -> Style {
        self.pick(
            Style::new().fg(Color::LightRed),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn key(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn bar(&self, bucket: usize) -> Style {
        let color = match bucket {
            0 => Color::Green,
            1 => Color::Cyan,
            2 => Color::Yellow,
            _ => Color::LightRed,
        };
        self.pick(Style::new().fg(color), Style::new())
    }
}
