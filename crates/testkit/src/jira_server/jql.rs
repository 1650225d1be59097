//! The subset of JQL the test server understands: a tokenizer, a recursive-descent parser that
//! compiles clauses into predicates with their values already resolved (dates to instants, keys to
//! `(project, number)`), evaluation against any [`Subject`], and ordering.
//!
//! Grammar (keywords are case-insensitive; `&&`, `||` and `!` are accepted for AND, OR, NOT):
//!
//! ```text
//! query   := [or] [ORDER BY sort (',' sort)*]
//! or      := and (OR and)*
//! and     := not (AND not)*
//! not     := NOT not | '(' or ')' | clause
//! clause  := field operator operand
//! operator:= = | != | < | <= | > | >= | ~ | !~ | IN | NOT IN | IS | IS NOT
//! operand := value | '(' value (',' value)* ')' | EMPTY | NULL
//! sort    := field [ASC | DESC]
//! ```
//!
//! Fields: `labels`, `key`/`issuekey`, `project`, `status`, `summary` and `comment` (`~` only;
//! `comment ~ word` matches a whole word of a comment), `updated`/
//! `updatedDate` and `created`/`createdDate`. Date operands are epoch milliseconds (unquoted
//! number), a period relative to now (`-5d`, `"-4w 2d"`, units `w d h m`) or a date literal
//! `yyyy-MM-dd HH:mm`, `yyyy/MM/dd HH:mm`, `yyyy-MM-dd`, `yyyy/MM/dd`, read in the searching
//! account's time zone with minute precision, as Jira does.
//!
//! Error messages copy Jira's wording; syntax errors start with `Error in the JQL Query:` and end
//! with the position `(line 1, character N)`.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// What a JQL predicate needs to know about an issue.
pub trait Subject {
    /// The project key, upper case (`DM` for `DM-12`).
    fn project(&self) -> &str;
    /// The number of the key (`12` for `DM-12`).
    fn number(&self) -> u64;
    fn labels(&self) -> &[String];
    fn status(&self) -> &str;
    fn summary(&self) -> &str;
    fn created(&self) -> DateTime<Utc>;
    fn updated(&self) -> DateTime<Utc>;
    /// Keys the issue had before it was moved (project, number): `key` clauses still match them.
    fn former_keys(&self) -> &[(String, u64)] {
        &[]
    }
    /// Whether one of its comments has `word` (lower case) among its words: Jira's text search
    /// splits text at punctuation and whitespace.
    fn comment_has_word(&self, _word: &str) -> bool {
        false
    }
}

/// A JQL error: the complete message Jira would put in `errorMessages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqlError(pub String);

impl std::fmt::Display for JqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JqlError {}

/// Everything needed to resolve values while compiling: the searching account's zone (for date
/// literals) and the current time (for relative periods).
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub zone: FixedOffset,
    pub now: DateTime<Utc>,
}

/// A compiled query.
#[derive(Debug, Clone)]
pub struct Query {
    /// `None` when the query has no restriction (empty or `ORDER BY` only): "unbounded".
    pub filter: Option<Expr>,
    /// The `ORDER BY` list as written (empty when absent).
    pub order: Vec<(SortKey, Direction)>,
}

impl Query {
    /// The keys a matching issue must have, when the filter says so at its top (`key in (…)`,
    /// alone or ANDed with other clauses): the server then looks those issues up by key, as
    /// Jira's index does, instead of testing every issue.
    pub fn required_keys(&self) -> Option<&[(String, u64)]> {
        fn key_in(e: &Expr) -> Option<&[(String, u64)]> {
            match e {
                Expr::Clause(Clause::KeyIn {
                    keys,
                    negate: false,
                }) => Some(keys.as_slice()),
                _ => None,
            }
        }
        match self.filter.as_ref()? {
            Expr::And(list) => list.iter().find_map(key_in),
            e => key_in(e),
        }
    }
}

impl Query {
    /// Every issue key the query names (in `key` clauses, anywhere), as Jira validates them.
    pub fn named_keys(&self) -> Vec<(String, u64)> {
        fn walk(e: &Expr, out: &mut Vec<(String, u64)>) {
            match e {
                Expr::And(list) | Expr::Or(list) => list.iter().for_each(|x| walk(x, out)),
                Expr::Not(x) => walk(x, out),
                Expr::Clause(Clause::KeyIn { keys, .. }) => out.extend(keys.iter().cloned()),
                Expr::Clause(Clause::KeyCmp { key, .. }) => out.push(key.clone()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            walk(f, &mut out);
        }
        out
    }
}

/// A boolean expression over clauses.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Const(bool),
    Clause(Clause),
}

/// One compiled clause, values resolved.
#[derive(Debug, Clone)]
pub enum Clause {
    /// `labels in (..)`, `labels = x` (and negations). `empty` is set when EMPTY was listed.
    /// Like Jira, the negated forms never match an issue without labels.
    Labels {
        values: Vec<String>,
        empty: bool,
        negate: bool,
    },
    /// `labels is [not] EMPTY`.
    LabelsEmpty { negate: bool },
    /// `key in (..)`, `key = X-1` (and negations).
    KeyIn {
        keys: Vec<(String, u64)>,
        negate: bool,
    },
    /// `key < X-5` etc.: compares numbers within the same project.
    KeyCmp { op: CmpOp, key: (String, u64) },
    /// `project in (..)`, `project = X` (upper-cased values).
    Project { values: Vec<String>, negate: bool },
    /// `status in (..)`, `status = x` (lower-cased values, compared case-insensitively).
    Status { values: Vec<String>, negate: bool },
    /// `summary ~ text`: case-insensitive substring.
    Summary { needle: String, negate: bool },
    /// `comment ~ word`: a comment has the word (case-insensitive).
    Comment { word: String, negate: bool },
    /// `updated >= …`, `created < …`.
    Time {
        field: TimeField,
        op: CmpOp,
        at: DateTime<Utc>,
    },
}

/// Which timestamp a date clause or sort reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    Created,
    Updated,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Le => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Ge => ord != Ordering::Less,
        }
    }
}

/// Fields the server can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Project, then the numeric part of the key (`DM-9` < `DM-10`).
    Key,
    Project,
    Created,
    Updated,
    Summary,
    Status,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Query {
    /// Whether the issue matches (an unbounded query matches everything).
    pub fn matches<S: Subject + ?Sized>(&self, s: &S) -> bool {
        self.filter.as_ref().is_none_or(|e| e.eval(s))
    }

    /// Order two issues by the `ORDER BY` list, or by `key DESC` when there is none (Jira's
    /// default); ties are broken by key ascending so that paging is deterministic.
    pub fn compare<S: Subject + ?Sized>(&self, a: &S, b: &S) -> Ordering {
        let default = [(SortKey::Key, Direction::Desc)];
        let order: &[(SortKey, Direction)] = if self.order.is_empty() {
            &default
        } else {
            &self.order
        };
        for &(key, dir) in order {
            let ord = compare_by(key, a, b);
            let ord = if dir == Direction::Desc {
                ord.reverse()
            } else {
                ord
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        compare_by(SortKey::Key, a, b)
    }
}

fn compare_by<S: Subject + ?Sized>(key: SortKey, a: &S, b: &S) -> Ordering {
    match key {
        SortKey::Key => (a.project(), a.number()).cmp(&(b.project(), b.number())),
        SortKey::Project => a.project().cmp(b.project()),
        SortKey::Created => a.created().cmp(&b.created()),
        SortKey::Updated => a.updated().cmp(&b.updated()),
        SortKey::Summary => a.summary().cmp(b.summary()),
        SortKey::Status => a.status().cmp(b.status()),
    }
}

impl Expr {
    /// Evaluate against one issue.
    pub fn eval<S: Subject + ?Sized>(&self, s: &S) -> bool {
        match self {
            Expr::And(v) => v.iter().all(|e| e.eval(s)),
            Expr::Or(v) => v.iter().any(|e| e.eval(s)),
            Expr::Not(e) => !e.eval(s),
            Expr::Const(b) => *b,
            Expr::Clause(c) => c.eval(s),
        }
    }
}

impl Clause {
    fn eval<S: Subject + ?Sized>(&self, s: &S) -> bool {
        match self {
            Clause::Labels {
                values,
                empty,
                negate,
            } => {
                let labels = s.labels();
                let has = labels.iter().any(|l| values.iter().any(|v| v == l));
                if *negate {
                    !labels.is_empty() && !has
                } else {
                    has || (*empty && labels.is_empty())
                }
            }
            Clause::LabelsEmpty { negate } => s.labels().is_empty() != *negate,
            Clause::KeyIn { keys, negate } => {
                let has = |project: &str, number: u64| {
                    keys.binary_search_by(|(p, n)| (p.as_str(), *n).cmp(&(project, number)))
                        .is_ok()
                };
                let hit =
                    has(s.project(), s.number()) || s.former_keys().iter().any(|(p, n)| has(p, *n));
                hit != *negate
            }
            Clause::KeyCmp { op, key } => s.project() == key.0 && op.holds(s.number().cmp(&key.1)),
            Clause::Project { values, negate } => {
                values.iter().any(|v| v == s.project()) != *negate
            }
            Clause::Status { values, negate } => {
                let st = s.status();
                values.iter().any(|v| v.eq_ignore_ascii_case(st)) != *negate
            }
            Clause::Summary { needle, negate } => {
                s.summary().to_lowercase().contains(needle.as_str()) != *negate
            }
            Clause::Comment { word, negate } => s.comment_has_word(word) != *negate,
            Clause::Time { field, op, at } => {
                let t = match field {
                    TimeField::Created => s.created(),
                    TimeField::Updated => s.updated(),
                };
                op.holds(t.cmp(at))
            }
        }
    }
}

/// Split an issue key into its upper-cased project and its number: `dm-12` → `("DM", 12)`.
pub fn parse_key(key: &str) -> Option<(String, u64)> {
    let (project, number) = key.trim().rsplit_once('-')?;
    let mut chars = project.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((project.to_ascii_uppercase(), number.parse().ok()?))
}

/// Parse and compile a JQL query.
pub fn parse(jql: &str, ctx: &Context) -> Result<Query, JqlError> {
    let tokens = tokenize(jql)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        ctx: *ctx,
    };
    p.query()
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An unquoted word (field name, keyword, value).
    Word(String),
    /// A quoted string.
    Str(String),
    LParen,
    RParen,
    Comma,
    Op(Operator),
    /// `&&`
    AndSym,
    /// `||`
    OrSym,
    /// `!` alone
    NotSym,
}

/// Symbolic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Cmp(CmpOp),
    Like,
    NotLike,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position, for messages.
    at: usize,
    /// The text as written.
    text: String,
}

/// Characters Jira reserves outside quoted strings (a subset of its list: the ones that never
/// appear in keys, labels, numbers or `yyyy-MM-dd` dates).
const RESERVED: &[char] = &[
    '+', ';', '?', '|', '*', '/', '%', '^', '$', '#', '@', '[', ']', '{', '}', '&',
];

fn syntax(msg: impl std::fmt::Display, at: usize) -> JqlError {
    JqlError(format!(
        "Error in the JQL Query: {msg} (line 1, character {at})"
    ))
}

fn tokenize(src: &str) -> Result<Vec<Token>, JqlError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Op(Operator::Cmp(CmpOp::Eq)), 1),
            '~' => (Tok::Op(Operator::Like), 1),
            '!' if next == Some('=') => (Tok::Op(Operator::Cmp(CmpOp::Ne)), 2),
            '!' if next == Some('~') => (Tok::Op(Operator::NotLike), 2),
            '!' => (Tok::NotSym, 1),
            '>' if next == Some('=') => (Tok::Op(Operator::Cmp(CmpOp::Ge)), 2),
            '>' => (Tok::Op(Operator::Cmp(CmpOp::Gt)), 1),
            '<' if next == Some('=') => (Tok::Op(Operator::Cmp(CmpOp::Le)), 2),
            '<' => (Tok::Op(Operator::Cmp(CmpOp::Lt)), 1),
            '&' if next == Some('&') => (Tok::AndSym, 2),
            '|' if next == Some('|') => (Tok::OrSym, 2),
            '"' | '\'' => {
                let (s, len) = quoted(&chars[i..], at)?;
                (Tok::Str(s), len)
            }
            _ => {
                let mut j = i;
                while j < chars.len() {
                    let d = chars[j];
                    if d.is_whitespace() || "()\"',=!<>~".contains(d) {
                        break;
                    }
                    if RESERVED.contains(&d) {
                        return Err(syntax(
                            format_args!(
                                "The character '{d}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u{:04x}' instead.",
                                d as u32
                            ),
                            j + 1,
                        ));
                    }
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                (Tok::Word(word), j - i)
            }
        };
        out.push(Token {
            tok,
            at,
            text: chars[i..i + len].iter().collect(),
        });
        i += len;
    }
    Ok(out)
}

/// Read a quoted string starting at `chars[0]` (the quote); returns the value and the length
/// consumed including both quotes.
fn quoted(chars: &[char], at: usize) -> Result<(String, usize), JqlError> {
    let quote = chars[0];
    let mut s = String::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            c if c == quote => return Ok((s, i + 1)),
            '\\' => {
                let Some(&e) = chars.get(i + 1) else { break };
                match e {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'u' => {
                        let hex: String = chars.iter().skip(i + 2).take(4).collect();
                        let ch = (hex.len() == 4)
                            .then(|| u32::from_str_radix(&hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                syntax(
                                    format_args!("The escape sequence '\\u{hex}' is invalid."),
                                    at + i,
                                )
                            })?;
                        s.push(ch);
                        i += 4;
                    }
                    other => s.push(other),
                }
                i += 2;
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    let text: String = chars.iter().collect();
    Err(syntax(
        format_args!("The quoted string '{text}' has not been completed."),
        at,
    ))
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    ctx: Context,
}

/// An operand as written: one value, a list, or EMPTY.
#[derive(Debug)]
enum Operand {
    Value(Value),
    List(Vec<Value>),
}

#[derive(Debug, Clone)]
enum Value {
    /// Unquoted word.
    Word(String),
    /// Quoted string.
    Str(String),
    /// EMPTY or NULL.
    Empty,
}

impl Value {
    fn text(&self) -> &str {
        match self {
            Value::Word(s) | Value::Str(s) => s,
            Value::Empty => "EMPTY",
        }
    }
}

/// The operator of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClauseOp {
    Cmp(CmpOp),
    Like,
    NotLike,
    In,
    NotIn,
    Is,
    IsNot,
}

impl ClauseOp {
    fn name(self) -> &'static str {
        match self {
            ClauseOp::Cmp(CmpOp::Eq) => "=",
            ClauseOp::Cmp(CmpOp::Ne) => "!=",
            ClauseOp::Cmp(CmpOp::Lt) => "<",
            ClauseOp::Cmp(CmpOp::Le) => "<=",
            ClauseOp::Cmp(CmpOp::Gt) => ">",
            ClauseOp::Cmp(CmpOp::Ge) => ">=",
            ClauseOp::Like => "~",
            ClauseOp::NotLike => "!~",
            ClauseOp::In => "in",
            ClauseOp::NotIn => "not in",
            ClauseOp::Is => "is",
            ClauseOp::IsNot => "is not",
        }
    }
}

const RESERVED_WORDS: &[&str] = &["and", "or", "not", "in", "is", "order", "by"];

const OPERATORS: &str = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn is_word(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn query(&mut self) -> Result<Query, JqlError> {
        let filter = if self.peek().is_none() || self.is_word("order") {
            None
        } else {
            Some(self.or()?)
        };
        let mut order = Vec::new();
        if self.is_word("order") {
            self.bump();
            if !self.is_word("by") {
                return Err(match self.peek() {
                    Some(t) => syntax(format_args!("Expecting 'by' but got '{}'.", t.text), t.at),
                    None => JqlError(
                        "Error in the JQL Query: Expecting 'by' before the end of the query."
                            .into(),
                    ),
                });
            }
            self.bump();
            loop {
                order.push(self.sort()?);
                if matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::Comma,
                        ..
                    })
                ) {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        if let Some(t) = self.peek() {
            return Err(syntax(
                format_args!("Expecting either 'OR' or 'AND' but got '{}'.", t.text),
                t.at,
            ));
        }
        Ok(Query { filter, order })
    }

    fn sort(&mut self) -> Result<(SortKey, Direction), JqlError> {
        let Some(t) = self.bump() else {
            return Err(JqlError(
                "Error in the JQL Query: Expecting a field name at the end of the query.".into(),
            ));
        };
        let name = match &t.tok {
            Tok::Word(w) | Tok::Str(w) => w.to_ascii_lowercase(),
            _ => {
                return Err(syntax(
                    format_args!("Expecting a field name but got '{}'.", t.text),
                    t.at,
                ))
            }
        };
        let key = match name.as_str() {
            "key" | "issuekey" | "id" => SortKey::Key,
            "project" => SortKey::Project,
            "created" | "createddate" => SortKey::Created,
            "updated" | "updateddate" => SortKey::Updated,
            "summary" => SortKey::Summary,
            "status" => SortKey::Status,
            "labels" => {
                return Err(JqlError(format!(
                    "Not able to sort using field '{}'.",
                    t.text
                )))
            }
            _ => return Err(unknown_field(&t.text)),
        };
        let dir = if self.is_word("asc") {
            self.bump();
            Direction::Asc
        } else if self.is_word("desc") {
            self.bump();
            Direction::Desc
        } else {
            Direction::Asc
        };
        Ok((key, dir))
    }

    fn or(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.and()?];
        while self.is_word("or")
            || matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::OrSym,
                    ..
                })
            )
        {
            self.bump();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.not()?];
        while self.is_word("and")
            || matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::AndSym,
                    ..
                })
            )
        {
            self.bump();
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, JqlError> {
        if self.is_word("not")
            || matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::NotSym,
                    ..
                })
            )
        {
            self.bump();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        ) {
            self.bump();
            let e = self.or()?;
            return match self.bump() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => Ok(e),
                Some(t) => Err(syntax(
                    format_args!("Expecting ')' but got '{}'.", t.text),
                    t.at,
                )),
                None => Err(JqlError(
                    "Error in the JQL Query: Expecting ')' before the end of the query.".into(),
                )),
            };
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, JqlError> {
        let Some(field) = self.bump() else {
            return Err(JqlError(
                "Error in the JQL Query: Expecting a field name at the end of the query.".into(),
            ));
        };
        let name = match &field.tok {
            Tok::Word(w) if RESERVED_WORDS.iter().any(|r| w.eq_ignore_ascii_case(r)) => {
                return Err(syntax(
                    format_args!("Expecting a field name but got '{}'.", field.text),
                    field.at,
                ))
            }
            Tok::Word(w) | Tok::Str(w) => w.clone(),
            _ => {
                return Err(syntax(
                    format_args!("Expecting a field name but got '{}'.", field.text),
                    field.at,
                ))
            }
        };
        let op = self.operator()?;
        let operand = self.operand(op)?;
        self.compile(&name, op, operand)
    }

    fn operator(&mut self) -> Result<ClauseOp, JqlError> {
        let Some(t) = self.bump() else {
            return Err(JqlError(format!(
                "Error in the JQL Query: Expecting operator before the end of the query. {OPERATORS}"
            )));
        };
        let op = match &t.tok {
            Tok::Op(Operator::Cmp(c)) => ClauseOp::Cmp(*c),
            Tok::Op(Operator::Like) => ClauseOp::Like,
            Tok::Op(Operator::NotLike) => ClauseOp::NotLike,
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => ClauseOp::In,
            Tok::Word(w) if w.eq_ignore_ascii_case("is") => {
                if self.is_word("not") {
                    self.bump();
                    ClauseOp::IsNot
                } else {
                    ClauseOp::Is
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") && self.is_word("in") => {
                self.bump();
                ClauseOp::NotIn
            }
            _ => {
                return Err(syntax(
                    format_args!("Expecting operator but got '{}'. {OPERATORS}", t.text),
                    t.at,
                ))
            }
        };
        Ok(op)
    }

    fn operand(&mut self, op: ClauseOp) -> Result<Operand, JqlError> {
        match op {
            ClauseOp::In | ClauseOp::NotIn => {
                match self.bump() {
                    Some(Token {
                        tok: Tok::LParen, ..
                    }) => {}
                    Some(t) => {
                        return Err(syntax(
                            format_args!("Expecting '(' but got '{}'.", t.text),
                            t.at,
                        ))
                    }
                    None => {
                        return Err(JqlError(
                            "Error in the JQL Query: Expecting '(' before the end of the query."
                                .into(),
                        ))
                    }
                }
                let mut values = vec![self.value()?];
                loop {
                    match self.bump() {
                        Some(Token {
                            tok: Tok::Comma, ..
                        }) => values.push(self.value()?),
                        Some(Token {
                            tok: Tok::RParen, ..
                        }) => break,
                        Some(t) => {
                            return Err(syntax(
                                format_args!("Expecting ')' but got '{}'.", t.text),
                                t.at,
                            ))
                        }
                        None => return Err(JqlError(
                            "Error in the JQL Query: Expecting ')' before the end of the query."
                                .into(),
                        )),
                    }
                }
                Ok(Operand::List(values))
            }
            ClauseOp::Is | ClauseOp::IsNot => {
                let v = self.value()?;
                if !matches!(v, Value::Empty) {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: The operator '{}' can only be used with EMPTY or NULL, not '{}'.",
                        op.name(),
                        v.text()
                    )));
                }
                Ok(Operand::Value(v))
            }
            _ => Ok(Operand::Value(self.value()?)),
        }
    }

    fn value(&mut self) -> Result<Value, JqlError> {
        let Some(t) = self.bump() else {
            return Err(JqlError(
                "Error in the JQL Query: Expecting either a value, list or function before the end of the query."
                    .into(),
            ));
        };
        match t.tok {
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::Word(w) => {
                if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") {
                    return Ok(Value::Empty);
                }
                if RESERVED_WORDS.iter().any(|r| w.eq_ignore_ascii_case(r)) {
                    return Err(syntax(
                        format_args!("'{w}' is a reserved JQL word. You must surround it in quotation marks to use it in a query."),
                        t.at,
                    ));
                }
                if matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::LParen,
                        ..
                    })
                ) {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: Unable to find JQL function '{w}()'."
                    )));
                }
                Ok(Value::Word(w))
            }
            _ => Err(syntax(
                format_args!(
                    "Expecting either a value, list or function but got '{}'.",
                    t.text
                ),
                t.at,
            )),
        }
    }

    fn compile(&self, field: &str, op: ClauseOp, operand: Operand) -> Result<Expr, JqlError> {
        let lower = field.to_ascii_lowercase();
        let unsupported = || {
            Err(JqlError(format!(
                "The operator '{}' is not supported by the '{}' field.",
                op.name(),
                field
            )))
        };
        let clause = match lower.as_str() {
            "labels" => match (op, operand) {
                (ClauseOp::Is, _) => Clause::LabelsEmpty { negate: false },
                (ClauseOp::IsNot, _) => Clause::LabelsEmpty { negate: true },
                (ClauseOp::Cmp(CmpOp::Eq), Operand::Value(Value::Empty)) => {
                    Clause::LabelsEmpty { negate: false }
                }
                (ClauseOp::Cmp(CmpOp::Ne), Operand::Value(Value::Empty)) => {
                    Clause::LabelsEmpty { negate: true }
                }
                (ClauseOp::Cmp(c @ (CmpOp::Eq | CmpOp::Ne)), Operand::Value(v)) => Clause::Labels {
                    values: vec![v.text().to_string()],
                    empty: false,
                    negate: c == CmpOp::Ne,
                },
                (ClauseOp::In | ClauseOp::NotIn, Operand::List(list)) => {
                    let empty = list.iter().any(|v| matches!(v, Value::Empty));
                    Clause::Labels {
                        values: list
                            .iter()
                            .filter(|v| !matches!(v, Value::Empty))
                            .map(|v| v.text().to_string())
                            .collect(),
                        empty,
                        negate: op == ClauseOp::NotIn,
                    }
                }
                _ => return unsupported(),
            },
            "key" | "issuekey" | "id" | "issue" => match (op, operand) {
                (ClauseOp::Is, _) | (ClauseOp::Cmp(CmpOp::Eq), Operand::Value(Value::Empty)) => {
                    return Ok(Expr::Const(false))
                }
                (ClauseOp::IsNot, _) | (ClauseOp::Cmp(CmpOp::Ne), Operand::Value(Value::Empty)) => {
                    return Ok(Expr::Const(true))
                }
                (ClauseOp::Cmp(c @ (CmpOp::Eq | CmpOp::Ne)), Operand::Value(v)) => Clause::KeyIn {
                    keys: vec![key_value(field, &v)?],
                    negate: c == CmpOp::Ne,
                },
                (ClauseOp::Cmp(c), Operand::Value(v)) => Clause::KeyCmp {
                    op: c,
                    key: key_value(field, &v)?,
                },
                (ClauseOp::In | ClauseOp::NotIn, Operand::List(list)) => {
                    let mut keys: Vec<(String, u64)> = list
                        .iter()
                        .filter(|v| !matches!(v, Value::Empty))
                        .map(|v| key_value(field, v))
                        .collect::<Result<_, _>>()?;
                    // Sorted, for a binary search per issue (as Jira's index answers it):
                    // a linear scan made the test server quadratic in the key count.
                    keys.sort();
                    keys.dedup();
                    Clause::KeyIn {
                        keys,
                        negate: op == ClauseOp::NotIn,
                    }
                }
                _ => return unsupported(),
            },
            "project" | "status" => {
                let (values, negate) = match (op, operand) {
                    (ClauseOp::Is, _) => return Ok(Expr::Const(false)),
                    (ClauseOp::IsNot, _) => return Ok(Expr::Const(true)),
                    (ClauseOp::Cmp(c @ (CmpOp::Eq | CmpOp::Ne)), Operand::Value(v)) => {
                        (vec![v.text().to_string()], c == CmpOp::Ne)
                    }
                    (ClauseOp::In | ClauseOp::NotIn, Operand::List(list)) => (
                        list.iter().map(|v| v.text().to_string()).collect(),
                        op == ClauseOp::NotIn,
                    ),
                    _ => return unsupported(),
                };
                if lower == "project" {
                    Clause::Project {
                        values: values.iter().map(|v| v.to_ascii_uppercase()).collect(),
                        negate,
                    }
                } else {
                    Clause::Status { values, negate }
                }
            }
            "summary" | "text" => match (op, operand) {
                (ClauseOp::Like | ClauseOp::NotLike, Operand::Value(v)) => Clause::Summary {
                    needle: v.text().to_lowercase(),
                    negate: op == ClauseOp::NotLike,
                },
                _ => return unsupported(),
            },
            "comment" => match (op, operand) {
                (ClauseOp::Like | ClauseOp::NotLike, Operand::Value(v)) => Clause::Comment {
                    word: v.text().to_lowercase(),
                    negate: op == ClauseOp::NotLike,
                },
                _ => return unsupported(),
            },
            "updated" | "updateddate" | "created" | "createddate" => {
                let tf = if lower.starts_with("updated") {
                    TimeField::Updated
                } else {
                    TimeField::Created
                };
                match (op, operand) {
                    (ClauseOp::Is, _) => return Ok(Expr::Const(false)),
                    (ClauseOp::IsNot, _) => return Ok(Expr::Const(true)),
                    (ClauseOp::Cmp(c), Operand::Value(v)) => Clause::Time {
                        field: tf,
                        op: c,
                        at: date_value(field, &v, &self.ctx)?,
                    },
                    _ => return unsupported(),
                }
            }
            _ => return Err(unknown_field(field)),
        };
        Ok(Expr::Clause(clause))
    }
}

fn unknown_field(field: &str) -> JqlError {
    JqlError(format!(
        "Field '{field}' does not exist or you do not have permission to view it."
    ))
}

fn key_value(field: &str, v: &Value) -> Result<(String, u64), JqlError> {
    parse_key(v.text()).ok_or_else(|| {
        JqlError(format!(
            "The issue key '{}' for field '{}' is invalid.",
            v.text(),
            field
        ))
    })
}

/// Resolve a date operand: epoch milliseconds, a relative period, or a date literal in the
/// account's zone.
fn date_value(field: &str, v: &Value, ctx: &Context) -> Result<DateTime<Utc>, JqlError> {
    let invalid = || {
        JqlError(format!(
            "Date value '{}' for field '{}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.",
            v.text(),
            field
        ))
    };
    let text = match v {
        Value::Word(s) | Value::Str(s) => s.trim(),
        Value::Empty => return Err(invalid()),
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = text.parse().map_err(|_| invalid())?;
        return DateTime::from_timestamp_millis(ms).ok_or_else(invalid);
    }
    if let Some(period) = parse_period(text) {
        return Ok(ctx.now + period);
    }
    for fmt in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return local(naive, ctx).ok_or_else(invalid);
        }
    }
    for fmt in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(day) = NaiveDate::parse_from_str(text, fmt) {
            return local(day.and_time(chrono::NaiveTime::MIN), ctx).ok_or_else(invalid);
        }
    }
    Err(invalid())
}

fn local(naive: NaiveDateTime, ctx: &Context) -> Option<DateTime<Utc>> {
    ctx.zone
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A Jira period: optional sign, then one or more `<n><unit>` with units `w d h m`, optionally
/// separated by spaces (`-5d`, `4w 2d`, `-1h 30m`).
fn parse_period(s: &str) -> Option<Duration> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let mut total = Duration::zero();
    let mut any = false;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => num.push(c),
            'w' | 'd' | 'h' | 'm' => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                total += match c {
                    'w' => Duration::try_weeks(n)?,
                    'd' => Duration::try_days(n)?,
                    'h' => Duration::try_hours(n)?,
                    _ => Duration::try_minutes(n)?,
                };
                any = true;
            }
            ' ' if num.is_empty() => {}
            _ => return None,
        }
    }
    (any && num.is_empty()).then_some(total * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T {
        project: String,
        number: u64,
        labels: Vec<String>,
        status: String,
        summary: String,
        created: DateTime<Utc>,
        updated: DateTime<Utc>,
    }

    impl Subject for T {
        fn project(&self) -> &str {
            &self.project
        }
        fn number(&self) -> u64 {
            self.number
        }
        fn labels(&self) -> &[String] {
            &self.labels
        }
        fn status(&self) -> &str {
            &self.status
        }
        fn summary(&self) -> &str {
            &self.summary
        }
        fn created(&self) -> DateTime<Utc> {
            self.created
        }
        fn updated(&self) -> DateTime<Utc> {
            self.updated
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn issue(key: &str, labels: &[&str], updated: &str) -> T {
        let (project, number) = parse_key(key).expect("test key");
        T {
            project,
            number,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            status: "Open".into(),
            summary: format!("Summary of {key}"),
            created: utc("2026-01-01T00:00:00Z"),
            updated: utc(updated),
        }
    }

    fn ctx(offset_minutes: i32) -> Context {
        Context {
            zone: FixedOffset::east_opt(offset_minutes * 60).expect("offset"),
            now: utc("2026-11-24T12:00:00Z"),
        }
    }

    fn q(jql: &str) -> Query {
        parse(jql, &ctx(0)).unwrap_or_else(|e| panic!("{jql}: {e}"))
    }

    fn err(jql: &str) -> String {
        match parse(jql, &ctx(0)) {
            Ok(q) => panic!("{jql} parsed: {q:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn label_clauses() {
        let a = issue("DM-1", &["backport-v23", "x"], "2026-11-24T10:00:00Z");
        let b = issue("DM-2", &[], "2026-11-24T10:00:00Z");
        let c = issue("DM-3", &["y"], "2026-11-24T10:00:00Z");
        let cases: &[(&str, [bool; 3])] = &[
            (r#"labels in (backport-v23, "y")"#, [true, false, true]),
            ("labels not in (backport-v23)", [false, false, true]),
            ("labels = x", [true, false, false]),
            ("labels != x", [false, false, true]),
            ("labels is EMPTY", [false, true, false]),
            ("labels IS NOT empty", [true, false, true]),
            ("labels = EMPTY", [false, true, false]),
            ("labels in (y, EMPTY)", [false, true, true]),
            ("NOT labels = x", [false, true, true]),
            ("labels = x OR labels = y", [true, false, true]),
            ("labels = x AND labels = y", [false, false, false]),
            (
                "(labels = x or labels = y) and not labels = y",
                [true, false, false],
            ),
            (
                "labels = x || labels = y && labels = z",
                [true, false, false],
            ),
            ("!labels is empty", [true, false, true]),
        ];
        for (jql, want) in cases {
            let query = q(jql);
            let got = [query.matches(&a), query.matches(&b), query.matches(&c)];
            assert_eq!(&got, want, "{jql}");
        }
    }

    #[test]
    fn keys_projects_and_status() {
        let a = issue("DM-1", &[], "2026-11-24T10:00:00Z");
        let b = issue("DM-10", &[], "2026-11-24T10:00:00Z");
        let c = issue("OTHER-1", &[], "2026-11-24T10:00:00Z");
        let cases: &[(&str, [bool; 3])] = &[
            ("key in (DM-1, dm-10)", [true, true, false]),
            ("key = DM-1", [true, false, false]),
            ("issuekey != DM-1", [false, true, true]),
            ("key not in (DM-1, OTHER-1)", [false, true, false]),
            ("key > DM-1", [false, true, false]),
            ("project = DM", [true, true, false]),
            ("project in (other, \"dm\")", [true, true, true]),
            ("project != DM", [false, false, true]),
            ("status = open", [true, true, true]),
            ("status in (Done)", [false, false, false]),
            ("summary ~ \"dm-1\"", [true, true, false]),
            // The subjects here have no comments.
            ("comment ~ portcullisrecord", [false, false, false]),
            ("comment !~ \"portcullisrecord\"", [true, true, true]),
        ];
        for (jql, want) in cases {
            let query = q(jql);
            let got = [query.matches(&a), query.matches(&b), query.matches(&c)];
            assert_eq!(&got, want, "{jql}");
        }
    }

    #[test]
    fn epoch_milliseconds_are_exact() {
        let at = utc("2026-11-24T10:05:30.500Z");
        let ms = at.timestamp_millis();
        let i = issue("DM-1", &[], "2026-11-24T10:05:30.500Z");
        assert!(q(&format!("updated >= {ms}")).matches(&i));
        assert!(!q(&format!("updated > {ms}")).matches(&i));
        assert!(!q(&format!("updated >= {}", ms + 1)).matches(&i));
        assert!(q(&format!("updated < {}", ms + 1)).matches(&i));
        assert!(q(&format!("created <= {ms}")).matches(&i));
    }

    #[test]
    fn quoted_dates_are_read_in_the_account_zone() {
        // 10:05 at -0500 is 15:05 UTC.
        let i = issue("DM-1", &[], "2026-11-24T15:05:30Z");
        let at = |jql: &str, off: i32| {
            parse(jql, &ctx(off))
                .unwrap_or_else(|e| panic!("{jql}: {e}"))
                .matches(&i)
        };
        assert!(at(r#"updated >= "2026-11-24 10:05""#, -300));
        assert!(!at(r#"updated >= "2026-11-24 10:06""#, -300));
        assert!(at(r#"updated >= "2026/11/24 10:05""#, -300));
        // The same literal in UTC is 10:05 UTC: also before; 15:06 is after.
        assert!(at(r#"updated >= "2026-11-24 15:05""#, 0));
        assert!(!at(r#"updated > "2026-11-24 15:06""#, 0));
        assert!(at(r#"updated < "2026-11-24 15:06""#, 0));
        // Date only: midnight in the zone. At +1300 the 25th starts at 11:00 UTC on the 24th.
        assert!(at(r#"updated >= "2026-11-25""#, 13 * 60));
        assert!(!at("updated >= 2026-11-25", 0));
        assert!(at("updated >= 2026-11-24", 0));
        // Relative periods from now (12:00 UTC; the issue was updated at 15:05:30).
        assert!(at("updated >= -1d", 0));
        assert!(at("updated >= 3h", 0));
        assert!(!at(r#"updated >= "3h 6m""#, 0));
        assert!(!at("updated <= -1h", 0));
        assert!(at(r#"updated < "-1h 30m" OR created < "-4w 2d""#, 0));
    }

    #[test]
    fn order_by_and_default_order() {
        let mut v = [
            issue("DM-10", &[], "2026-11-24T10:00:00Z"),
            issue("DM-9", &[], "2026-11-24T10:00:00Z"),
            issue("DM-2", &[], "2026-11-23T10:00:00Z"),
            issue("AB-100", &[], "2026-11-25T10:00:00Z"),
        ];
        let keys = |v: &[T]| -> Vec<String> {
            v.iter()
                .map(|t| format!("{}-{}", t.project, t.number))
                .collect()
        };
        let query = q("project in (DM, AB) ORDER BY updated ASC, key ASC");
        v.sort_by(|a, b| query.compare(a, b));
        assert_eq!(keys(&v), ["DM-2", "DM-9", "DM-10", "AB-100"]);
        let query = q("project = DM order by UPDATED desc, KEY desc");
        v.sort_by(|a, b| query.compare(a, b));
        assert_eq!(keys(&v), ["AB-100", "DM-10", "DM-9", "DM-2"]);
        let query = q("labels is empty");
        v.sort_by(|a, b| query.compare(a, b));
        assert_eq!(keys(&v), ["DM-10", "DM-9", "DM-2", "AB-100"]);
        let query = q("ORDER BY key");
        assert!(query.filter.is_none());
        v.sort_by(|a, b| query.compare(a, b));
        assert_eq!(keys(&v), ["AB-100", "DM-2", "DM-9", "DM-10"]);
        assert!(q("").filter.is_none());
        assert!(q("   ").order.is_empty());
    }

    #[test]
    fn errors_look_like_jira() {
        let e = err("labels = x AND");
        assert!(e.starts_with("Error in the JQL Query:"), "{e}");
        let e = err("labels = x foo");
        assert_eq!(
            e,
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 12)"
        );
        let e = err("labels foo x");
        assert!(e.contains("Expecting operator but got 'foo'"), "{e}");
        assert!(e.ends_with("(line 1, character 8)"), "{e}");
        assert!(err("labels in (a, b").contains("Expecting ')'"));
        assert!(err("(labels = a").contains("Expecting ')'"));
        assert!(err(r#"labels = "abc"#).contains("has not been completed"));
        assert!(err("labels = a.b/c").contains("reserved JQL character"));
        assert!(err("labels =").contains("Expecting either a value, list or function"));
        assert_eq!(
            err("nosuchfield = 1"),
            "Field 'nosuchfield' does not exist or you do not have permission to view it."
        );
        assert!(err("updated >= \"24/11/2026\"").starts_with("Date value '24/11/2026'"));
        assert!(err("key = nokey").contains("The issue key 'nokey'"));
        assert!(err("labels > x").contains("not supported"));
        assert!(err("labels = and").contains("reserved JQL word"));
        assert!(err("labels in membersOf(x)").contains("Expecting '('"));
        assert!(err("labels = currentUser()").contains("Unable to find JQL function"));
        assert!(err("ORDER updated").contains("Expecting 'by'"));
        assert!(err("order by nothing").contains("Field 'nothing' does not exist"));
        assert!(err("labels is x").contains("EMPTY"));
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let i = issue("DM-1", &["a\"b", "c d"], "2026-11-24T10:00:00Z");
        assert!(q(r#"labels = "a\"b""#).matches(&i));
        assert!(q(r#"labels = 'c d'"#).matches(&i));
        assert!(q(r#"labels = "c\u0020d""#).matches(&i));
        assert!(q(r#""labels" in ("c d")"#).matches(&i));
    }

    #[test]
    fn periods() {
        assert_eq!(parse_period("-5d"), Some(Duration::days(-5)));
        assert_eq!(
            parse_period("4w 2d"),
            Some(Duration::weeks(4) + Duration::days(2))
        );
        assert_eq!(parse_period("5"), None);
        assert_eq!(parse_period("d"), None);
        assert_eq!(parse_period("2026-11-24"), None);
    }
}
