//! What one part of a message shows: the entries (items, or headings of empty sections) of a
//! prepared message, and the fragments of sections that a range of them covers.

use super::text::{PItem, Prepared};

/// One entry per item, and one for each section without items (its heading).
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) section: usize,
    pub(super) item: Option<usize>,
}

pub(super) fn entries(p: &Prepared) -> Vec<Entry> {
    let mut out = Vec::new();
    for (s, sec) in p.sections.iter().enumerate() {
        if sec.items.is_empty() {
            out.push(Entry {
                section: s,
                item: None,
            });
        }
        for i in 0..sec.items.len() {
            out.push(Entry {
                section: s,
                item: Some(i),
            });
        }
    }
    out
}

/// A section, or the piece of it that falls in one part.
pub(super) struct Frag<'a> {
    pub(super) heading: &'a str,
    pub(super) continued: bool,
    pub(super) items: &'a [PItem],
}

/// What one body shows.
pub(super) struct Part<'a> {
    pub(super) id: &'a str,
    pub(super) title: &'a str,
    /// `(part i of n)`, when split.
    pub(super) label: Option<&'a str>,
    pub(super) part: usize,
    pub(super) parts: usize,
    pub(super) frags: Vec<Frag<'a>>,
}

impl Part<'_> {
    pub(super) fn full_title(&self) -> String {
        match self.label {
            Some(l) => format!("{} {l}", self.title),
            None => self.title.to_string(),
        }
    }
}

pub(super) fn frags<'a>(p: &'a Prepared, entries: &[Entry]) -> Vec<Frag<'a>> {
    let mut out: Vec<Frag<'a>> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let s = entries[i].section;
        let mut j = i;
        while j < entries.len() && entries[j].section == s {
            j += 1;
        }
        let sec = &p.sections[s];
        let items: &'a [PItem] = match (entries[i].item, entries[j - 1].item) {
            (Some(a), Some(b)) => &sec.items[a..=b],
            _ => &[],
        };
        out.push(Frag {
            heading: &sec.heading,
            continued: entries[i].item.is_some_and(|a| a > 0),
            items,
        });
        i = j;
    }
    out
}
