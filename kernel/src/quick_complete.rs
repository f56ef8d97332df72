//! Always-ready completion and inspection for Rust cells, without the engine.
//!
//! While a cell runs, or while evcxr starts, the engine cannot answer
//! `complete_request` or `inspect_request`, and JupyterLab drops completion
//! replies slower than about a second. [`QuickCompleter`] answers from what it
//! can see lexically instead: names defined in the request's own code, names
//! learned from cells that ran, public names of the library (prelude) sources,
//! Rust keywords and a few std names. It never blocks and never panics.
//!
//! It is deliberately shallow: a hand-written lexer (strings, chars, raw
//! strings and comments are skipped) and a walk over its tokens that recognises
//! item and `let` definitions. It knows no types, so after `.` it offers
//! nothing rather than guessing.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Completions are capped so that a huge cell cannot produce a huge reply.
const MAX_MATCHES: usize = 200;
/// Descriptions are one short paragraph, not a whole item.
const MAX_DETAIL_CHARS: usize = 300;
/// Doc comments longer than this are cut: the reply is a tooltip.
const MAX_DOC_LINES: usize = 30;
/// A `let`/`for` pattern longer than this is not "simple"; it is skipped.
const MAX_PATTERN_TOKENS: usize = 64;

/// Always-available completer: see the module documentation.
pub struct QuickCompleter {
    /// Public names of the library sources; the first definition of a name wins.
    library: HashMap<DefKey, Def>,
    /// Names from cells that ran; a later cell's definition replaces an earlier one.
    learned: HashMap<DefKey, Def>,
}

/// What a completion replaces: `code[start..end]` by one of `matches`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickMatches {
    pub matches: Vec<String>,
    pub start: usize,
    pub end: usize,
}

impl QuickCompleter {
    /// `library_sources`: Rust source texts whose public names are always offered.
    pub fn new<'a>(library_sources: impl IntoIterator<Item = &'a str>) -> QuickCompleter {
        let mut library = HashMap::new();
        for src in library_sources {
            for def in owned_defs(src, Scope::Library) {
                library.entry(def.key()).or_insert(def);
            }
        }
        QuickCompleter {
            library,
            learned: HashMap::new(),
        }
    }

    /// Learns the names a cell that ran successfully defined at its top level.
    pub fn learn(&mut self, cell_code: &str) {
        for def in owned_defs(cell_code, Scope::Learned) {
            self.learned.insert(def.key(), def);
        }
    }

    /// Forgets learned names (a kernel restart / engine reset).
    pub fn forget(&mut self) {
        self.learned.clear();
    }

    /// Completions for the identifier prefix ending at `cursor`.
    pub fn complete(&self, code: &str, cursor: usize) -> QuickMatches {
        let end = clamp_cursor(code, cursor);
        let start = ident_start(code, end);
        let nothing = QuickMatches {
            matches: Vec::new(),
            start,
            end,
        };
        let prefix = code.get(start..end).unwrap_or("");
        if prefix.starts_with(|c: char| c.is_ascii_digit()) {
            return nothing; // a number literal, not a name
        }
        let context = context_before(code, start);
        let qualifier = match context {
            Context::Method | Context::Lifetime | Context::Unknown => return nothing,
            Context::Path(q) => Some(q),
            // Cursor after whitespace: the user has not started a name yet.
            Context::Free if prefix.is_empty() => return nothing,
            Context::Free => None,
        };
        let lx = lex(code);
        if lx.in_non_code_at(start, end) {
            return nothing; // inside a string or a comment
        }
        let raw = collect(&lx, Scope::Request);
        let mut found = Vec::new();
        match qualifier {
            Some(q) => self.path_candidates(&lx, &raw, q, prefix, &mut found),
            None => self.free_candidates(&lx, &raw, start, prefix, &mut found),
        }
        QuickMatches {
            matches: rank(found),
            start,
            end,
        }
    }

    /// A short text/plain description of the name at or just before `cursor`.
    pub fn inspect(&self, code: &str, cursor: usize) -> Option<String> {
        let cursor = clamp_cursor(code, cursor);
        let (start, end) = word_at(code, cursor)?;
        let word = code.get(start..end)?;
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let name: Cow<str> = if is_macro_call(code, end) {
            Cow::Owned(format!("{word}!"))
        } else {
            Cow::Borrowed(word)
        };
        let owner = match context_before(code, start) {
            Context::Free => None,
            Context::Path(q) => Some(q),
            Context::Method | Context::Lifetime | Context::Unknown => return None,
        };
        let lx = lex(code);
        if lx.in_non_code_at(start, end) {
            return None;
        }
        if let Some(text) = request_description(&lx, &name, owner, start) {
            return Some(text);
        }
        let key = (owner.map(str::to_string), name.to_string());
        if let Some(def) = self.learned.get(&key).or_else(|| self.library.get(&key)) {
            return Some(def.text.clone());
        }
        builtin_description(&name, owner)
    }

    /// Items of `q` (`q::name`) from the request, learned cells, library and std.
    fn path_candidates<'s>(
        &'s self,
        lx: &Lexed<'s>,
        raw: &[RawDef],
        q: &str,
        prefix: &str,
        found: &mut Vec<Candidate<'s>>,
    ) {
        for d in raw {
            if d.owner.is_some_and(|o| lx.text(o) == q) {
                push_match(found, prefix, d.kind, raw_name(lx, d));
            }
        }
        for def in self.learned.values().chain(self.library.values()) {
            if def.owner.as_deref() == Some(q) {
                push_match(found, prefix, def.kind, Cow::Borrowed(&def.name));
            }
        }
        for (owner, items) in BUILTIN_ITEMS {
            if *owner == q {
                for item in *items {
                    push_match(found, prefix, Kind::Function, Cow::Borrowed(item));
                }
            }
        }
    }

    /// Free names: request code, learned cells, library, std and keywords.
    fn free_candidates<'s>(
        &'s self,
        lx: &Lexed<'s>,
        raw: &[RawDef],
        start: usize,
        prefix: &str,
        found: &mut Vec<Candidate<'s>>,
    ) {
        for d in raw {
            // The token being typed is not a candidate for itself.
            if d.owner.is_none() && lx.toks[d.name].start != start {
                push_match(found, prefix, d.kind, raw_name(lx, d));
            }
        }
        for def in self.learned.values().chain(self.library.values()) {
            if def.owner.is_none() {
                push_match(found, prefix, def.kind, Cow::Borrowed(&def.name));
            }
        }
        for (name, kind, _) in BUILTINS {
            push_match(found, prefix, *kind, Cow::Borrowed(name));
        }
        for kw in KEYWORDS {
            push_match(found, prefix, Kind::Keyword, Cow::Borrowed(kw));
        }
    }
}

// ---------------------------------------------------------------------------
// Cursor and context

/// Clamps a cursor to the code and back onto a char boundary, so slicing never panics.
fn clamp_cursor(code: &str, cursor: usize) -> usize {
    let mut c = cursor.min(code.len());
    while !code.is_char_boundary(c) {
        c -= 1;
    }
    c
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Start of the identifier characters that end at `end` (`end` itself if none).
fn ident_start(code: &str, end: usize) -> usize {
    let head = code.get(..end).unwrap_or("");
    head.char_indices()
        .rev()
        .take_while(|&(_, c)| is_ident_char(c))
        .last()
        .map_or(end, |(i, _)| i)
}

/// End of the identifier characters that start at `start`.
fn ident_end(code: &str, start: usize) -> usize {
    let tail = code.get(start..).unwrap_or("");
    start
        + tail
            .chars()
            .take_while(|&c| is_ident_char(c))
            .map(char::len_utf8)
            .sum::<usize>()
}

/// The identifier at or just before the cursor (`foo|`, `fo|o`, `foo(|`, `println!(|`).
fn word_at(code: &str, cursor: usize) -> Option<(usize, usize)> {
    let (start, end) = (ident_start(code, cursor), ident_end(code, cursor));
    if start < end {
        return Some((start, end));
    }
    let before = code.get(..cursor)?.trim_end();
    let before = before.strip_suffix('(').unwrap_or(before).trim_end();
    let before = before.strip_suffix('!').unwrap_or(before);
    let end = before.len();
    let start = ident_start(code, end);
    (start < end).then_some((start, end))
}

/// `name!` but not `name != x`: the word is a macro being called.
fn is_macro_call(code: &str, end: usize) -> bool {
    let tail = code.get(end..).unwrap_or("");
    tail.starts_with('!') && !tail.starts_with("!=")
}

/// What precedes the identifier being completed or inspected.
#[derive(Debug, PartialEq, Eq)]
enum Context<'a> {
    /// A plain name position.
    Free,
    /// `receiver.`: we know no types, so we offer nothing.
    Method,
    /// `q::`: items of `q`, if known.
    Path(&'a str),
    /// `'a`: a lifetime or label.
    Lifetime,
    /// A path we cannot name (`Vec::<u8>::`, `::std`).
    Unknown,
}

fn context_before(code: &str, start: usize) -> Context<'_> {
    let before = code.get(..start).unwrap_or("");
    if before.ends_with('\'') {
        return Context::Lifetime;
    }
    let before = before.trim_end();
    if let Some(head) = before.strip_suffix("::") {
        let head = head.trim_end();
        let q_start = ident_start(head, head.len());
        return match head.get(q_start..) {
            Some(q) if !q.is_empty() && q.starts_with(is_ident_start) => Context::Path(q),
            _ => Context::Unknown,
        };
    }
    if before.ends_with('.') && !before.ends_with("..") {
        return Context::Method;
    }
    Context::Free
}

// ---------------------------------------------------------------------------
// Lexer: just enough of Rust's to know what is code, and where names are.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tk {
    Ident,
    Lifetime,
    Literal,
    Punct(u8),
    /// `::`, one token so that paths are easy to see.
    PathSep,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Tk,
    start: usize,
    end: usize,
}

/// A stretch that is not code: a comment or a string/char literal.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    /// Unterminated at the end of the text: the cursor at its very end is still inside.
    open: bool,
}

struct Lexed<'a> {
    src: &'a str,
    toks: Vec<Token>,
    /// Comments and literals, in order.
    spans: Vec<Span>,
}

impl<'a> Lexed<'a> {
    fn text(&self, tok: usize) -> &'a str {
        self.toks
            .get(tok)
            .and_then(|t| self.src.get(t.start..t.end))
            .unwrap_or("")
    }

    fn kind(&self, tok: usize) -> Option<Tk> {
        self.toks.get(tok).map(|t| t.kind)
    }

    fn is_punct(&self, tok: usize, c: u8) -> bool {
        self.kind(tok) == Some(Tk::Punct(c))
    }

    /// Whether byte `pos` lies strictly inside a comment or literal.
    fn in_non_code(&self, pos: usize) -> bool {
        let after = self.spans.partition_point(|s| s.start < pos);
        after > 0
            && self
                .spans
                .get(after - 1)
                .is_some_and(|s| pos < s.end || (s.open && pos == s.end))
    }

    /// Whether the word `start..end` (possibly empty) is inside a comment or literal.
    fn in_non_code_at(&self, start: usize, end: usize) -> bool {
        if start < end {
            self.in_non_code(start) || self.in_non_code(end)
        } else {
            self.in_non_code(end)
        }
    }
}

fn lex(src: &str) -> Lexed<'_> {
    let b = src.as_bytes();
    let mut lx = Lexed {
        src,
        toks: Vec::with_capacity(src.len() / 4),
        spans: Vec::new(),
    };
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        i = match (c, next) {
            (b' ' | b'\t' | b'\n' | b'\r', _) => i + 1,
            (b'/', Some(b'/')) => {
                let end = src.get(i..).and_then(|t| t.find('\n')).map(|n| i + n);
                lx.spans.push(Span {
                    start: i,
                    end: end.unwrap_or(b.len()),
                    open: end.is_none(),
                });
                end.unwrap_or(b.len())
            }
            (b'/', Some(b'*')) => {
                let (end, open) = block_comment_end(b, i + 2);
                lx.spans.push(Span {
                    start: i,
                    end,
                    open,
                });
                end
            }
            (b'"', _) => push_string(&mut lx, i, i + 1),
            (b'\'', _) => lex_quote(&mut lx, i, i),
            (b'0'..=b'9', _) => push_tok(&mut lx, Tk::Literal, i, number_end(b, i)),
            (b':', Some(b':')) => push_tok(&mut lx, Tk::PathSep, i, i + 2),
            (c, _) if c.is_ascii_alphabetic() || c == b'_' => lex_word(&mut lx, i),
            (c, _) if c.is_ascii() => push_tok(&mut lx, Tk::Punct(c), i, i + 1),
            _ => match src.get(i..).and_then(|t| t.chars().next()) {
                Some(ch) if is_ident_start(ch) => lex_word(&mut lx, i),
                Some(ch) => i + ch.len_utf8(), // other non-ASCII: not a token
                None => i + 1,                 // unreachable on valid UTF-8; just move on
            },
        };
    }
    lx
}

fn push_tok(lx: &mut Lexed<'_>, kind: Tk, start: usize, end: usize) -> usize {
    lx.toks.push(Token { kind, start, end });
    end
}

/// Records a literal both as a token and as a non-code span.
fn push_literal(lx: &mut Lexed<'_>, start: usize, end: usize, open: bool) -> usize {
    lx.spans.push(Span { start, end, open });
    push_tok(lx, Tk::Literal, start, end)
}

/// A `"…"` string whose opening quote is just before `body`; `start` includes any prefix.
fn push_string(lx: &mut Lexed<'_>, start: usize, body: usize) -> usize {
    let b = lx.src.as_bytes();
    let mut j = body;
    while let Some(&c) = b.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return push_literal(lx, start, j + 1, false),
            _ => j += 1,
        }
    }
    push_literal(lx, start, b.len(), true)
}

/// `/* … */` with nesting; returns its end and whether it is unterminated.
fn block_comment_end(b: &[u8], mut j: usize) -> (usize, bool) {
    let mut depth = 1;
    while j < b.len() {
        match (b.get(j), b.get(j + 1)) {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                j += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return (j, false);
                }
            }
            _ => j += 1,
        }
    }
    (b.len(), true)
}

/// Digits, suffixes and a fractional part (`1.5e3f64`), but not a range's `..`.
fn number_end(b: &[u8], mut j: usize) -> usize {
    loop {
        while b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            j += 1;
        }
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        } else {
            return j;
        }
    }
}

/// A `'`: a char literal (`'x'`, `'\n'`, `b'x'` from `start`), else a lifetime or label.
fn lex_quote(lx: &mut Lexed<'_>, start: usize, quote: usize) -> usize {
    if let Some(end) = char_literal_end(lx.src, quote) {
        return push_literal(lx, start, end, false);
    }
    match lx.src.get(quote + 1..).and_then(|t| t.chars().next()) {
        Some(c) if is_ident_start(c) => {
            let end = ident_end(lx.src, quote + 1);
            push_tok(lx, Tk::Lifetime, quote, end)
        }
        _ => push_tok(lx, Tk::Punct(b'\''), quote, quote + 1),
    }
}

fn char_literal_end(src: &str, quote: usize) -> Option<usize> {
    let b = src.as_bytes();
    if *b.get(quote + 1)? == b'\\' {
        // An escape (`'\''`, `'\u{1F600}'`): the closing quote is a few bytes on.
        let mut j = quote + 3;
        while j < b.len() && j < quote + 16 {
            match b.get(j) {
                Some(b'\'') => return Some(j + 1),
                Some(b'\n') => return None,
                _ => j += 1,
            }
        }
        return None;
    }
    let c = src.get(quote + 1..)?.chars().next()?;
    let close = quote + 1 + c.len_utf8();
    (b.get(close) == Some(&b'\'')).then_some(close + 1)
}

/// An identifier, or the prefix of a raw string, byte string or raw identifier.
fn lex_word(lx: &mut Lexed<'_>, start: usize) -> usize {
    let end = ident_end(lx.src, start);
    let b = lx.src.as_bytes();
    let word = lx.src.get(start..end).unwrap_or("");
    match (word, b.get(end)) {
        ("r" | "br" | "cr", Some(b'"' | b'#')) => {
            if let Some((close, open)) = raw_string_end(b, end) {
                return push_literal(lx, start, close, open);
            }
            let name_start = end + 1;
            let raw_ident = word == "r"
                && lx
                    .src
                    .get(name_start..)
                    .and_then(|t| t.chars().next())
                    .is_some_and(is_ident_start);
            if raw_ident {
                let name_end = ident_end(lx.src, name_start);
                return push_tok(lx, Tk::Ident, name_start, name_end);
            }
        }
        ("b" | "c", Some(b'"')) => return push_string(lx, start, end + 1),
        ("b", Some(b'\'')) => {
            if let Some(close) = char_literal_end(lx.src, end) {
                return push_literal(lx, start, close, false);
            }
        }
        _ => {}
    }
    push_tok(lx, Tk::Ident, start, end)
}

/// `#…#"…"#…#` from its first `#` or `"`; None when it is not a raw string.
fn raw_string_end(b: &[u8], from: usize) -> Option<(usize, bool)> {
    let hashes = b.get(from..)?.iter().take_while(|&&c| c == b'#').count();
    let body = from + hashes;
    if b.get(body) != Some(&b'"') {
        return None;
    }
    let mut j = body + 1;
    while j < b.len() {
        let closes = b.get(j) == Some(&b'"')
            && b.get(j + 1..j + 1 + hashes)
                .is_some_and(|h| h.iter().all(|&c| c == b'#'));
        if closes {
            return Some((j + 1 + hashes, false));
        }
        j += 1;
    }
    Some((b.len(), true))
}

// ---------------------------------------------------------------------------
// Definitions

/// Where definitions come from, which decides which of them count.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scope {
    /// The request's own cell: every definition at any depth (the cursor may be anywhere).
    Request,
    /// A cell that ran: only its top level survives into later cells.
    Learned,
    /// Library sources: only public top-level items.
    Library,
}

/// Completion order: locals first, keywords last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Variable,
    Function,
    Macro,
    Type,
    Constant,
    Module,
    Keyword,
}

/// The kind of block whose direct items are reached as `Owner::item`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OwnerKind {
    Impl,
    /// `impl Trait for X`: its items are public without `pub`.
    TraitImpl,
    Trait,
    Enum,
    Mod,
}

/// An open delimiter; `{` may be the body of an owner.
#[derive(Clone, Copy, Debug)]
struct Frame {
    open: u8,
    owner: Option<(usize, OwnerKind)>,
}

/// How far an item's description runs from its first token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// To the `;` that ends the statement (inclusive): `let`, `const`, `use`.
    Semi,
    /// To the `{` of the body (exclusive) or a `;`: `fn`, `struct`, `for`.
    Header,
    /// To the `,` or `}` that ends an enum variant.
    Variant,
}

/// A definition found in a lexed text; names are token indices into it.
#[derive(Clone, Copy, Debug)]
struct RawDef {
    name: usize,
    kind: Kind,
    is_macro: bool,
    /// Token of the owner's name for `Owner::name` items.
    owner: Option<usize>,
    /// First token of the item (its `pub`, `async`, ...).
    first: usize,
    end: End,
}

/// Where a definition found at the current position belongs.
enum Place {
    Free,
    Owned(usize, OwnerKind),
    Dropped,
}

fn placement(stack: &[Frame], scope: Scope) -> Place {
    let top_level = scope == Scope::Request || stack.len() <= 1;
    match stack.last() {
        Some(Frame {
            open: b'{',
            owner: Some((name, kind)),
        }) if top_level => Place::Owned(*name, *kind),
        _ if scope == Scope::Request || stack.is_empty() => Place::Free,
        _ => Place::Dropped,
    }
}

/// Walks the tokens with a delimiter stack and records the definitions the scope keeps.
fn collect(lx: &Lexed<'_>, scope: Scope) -> Vec<RawDef> {
    let mut w = Walker {
        lx,
        scope,
        stack: Vec::new(),
        pending: None,
        defs: Vec::new(),
    };
    let mut i = 0;
    while let Some(kind) = lx.kind(i) {
        i = match kind {
            Tk::Punct(b'{') => {
                let owner = match w.pending.take() {
                    Some((at, name, k)) if at == i => Some((name, k)),
                    other => {
                        w.pending = other;
                        None
                    }
                };
                w.stack.push(Frame { open: b'{', owner });
                i + 1
            }
            Tk::Punct(c @ (b'(' | b'[')) => {
                w.stack.push(Frame {
                    open: c,
                    owner: None,
                });
                i + 1
            }
            Tk::Punct(b'}' | b')' | b']') => {
                w.stack.pop();
                i + 1
            }
            Tk::Ident => w.word(i),
            _ => i + 1,
        };
    }
    w.defs
}

struct Walker<'l, 'a> {
    lx: &'l Lexed<'a>,
    scope: Scope,
    stack: Vec<Frame>,
    /// The `{` (token index) that opens the body of the owner named at the token.
    pending: Option<(usize, usize, OwnerKind)>,
    defs: Vec<RawDef>,
}

impl Walker<'_, '_> {
    /// Handles the identifier at `i`; returns the next token to look at.
    fn word(&mut self, i: usize) -> usize {
        let lx = self.lx;
        let next_ident = lx.kind(i + 1) == Some(Tk::Ident);
        match lx.text(i) {
            "let" => self.pattern(i, false),
            "for" => self.pattern(i, true),
            "fn" if next_ident => self.item(i, Kind::Function, End::Header),
            "struct" | "type" if next_ident => self.item(i, Kind::Type, End::Header),
            "enum" | "trait" if next_ident => {
                let owner = if lx.text(i) == "enum" {
                    OwnerKind::Enum
                } else {
                    OwnerKind::Trait
                };
                self.open_owner(i + 1, owner);
                self.item(i, Kind::Type, End::Header)
            }
            "mod" if next_ident => {
                if lx.is_punct(i + 2, b'{') {
                    self.pending = Some((i + 2, i + 1, OwnerKind::Mod));
                }
                self.item(i, Kind::Module, End::Header)
            }
            "const" | "static" => self.constant(i),
            "macro_rules" if lx.is_punct(i + 1, b'!') && lx.kind(i + 2) == Some(Tk::Ident) => {
                self.macro_rules(i)
            }
            "use" => self.use_tree(i),
            "impl" if is_item_position(lx, i) => self.impl_header(i),
            _ => {
                self.variant(i);
                i + 1
            }
        }
    }

    /// Records `kw name` (`fn add`, `struct Pool`) if the scope keeps it.
    fn item(&mut self, kw: usize, kind: Kind, end: End) -> usize {
        let (first, is_pub) = item_first(self.lx, kw);
        self.record(kw + 1, kind, first, end, is_pub, false);
        kw + 2
    }

    fn record(
        &mut self,
        name: usize,
        kind: Kind,
        first: usize,
        end: End,
        is_pub: bool,
        is_macro: bool,
    ) {
        let library = self.scope == Scope::Library;
        let owner = match placement(&self.stack, self.scope) {
            Place::Dropped => return,
            Place::Free if library && !is_pub => return,
            Place::Free => None,
            Place::Owned(_, OwnerKind::Enum) if kind != Kind::Constant => return,
            Place::Owned(_, OwnerKind::Impl | OwnerKind::Mod) if library && !is_pub => return,
            Place::Owned(o, _) => Some(o),
        };
        if self.lx.text(name) == "_" {
            return;
        }
        self.defs.push(RawDef {
            name,
            kind,
            is_macro,
            owner,
            first,
            end,
        });
    }

    /// Marks the `{` after an enum's or trait's name as the body of that owner.
    fn open_owner(&mut self, name: usize, kind: OwnerKind) {
        if let Some(open) = find_body(self.lx, name + 1) {
            self.pending = Some((open, name, kind));
        }
    }

    /// `const NAME` / `static [mut] NAME`, but not `const fn`, `*const T` or `<const N: usize>`.
    fn constant(&mut self, kw: usize) -> usize {
        let lx = self.lx;
        let prev_is_type_context = kw > 0
            && (lx.is_punct(kw - 1, b'*')
                || lx.is_punct(kw - 1, b'<')
                || lx.is_punct(kw - 1, b','));
        let name = if lx.text(kw + 1) == "mut" {
            kw + 2
        } else {
            kw + 1
        };
        if prev_is_type_context || lx.kind(name) != Some(Tk::Ident) || lx.text(name) == "fn" {
            return kw + 1;
        }
        if !lx.is_punct(name + 1, b':') && !lx.is_punct(name + 1, b'=') {
            return kw + 1; // `const unsafe fn`, `const {}` and the like
        }
        let (first, is_pub) = item_first(lx, kw);
        self.record(name, Kind::Constant, first, End::Semi, is_pub, false);
        name + 1
    }

    /// `macro_rules! name`; library macros count only with `#[macro_export]`.
    fn macro_rules(&mut self, kw: usize) -> usize {
        let exported = has_attribute(self.lx, kw, "macro_export");
        // Exported macros live at the crate root wherever they are written.
        let keep = match self.scope {
            Scope::Request => true,
            Scope::Learned => exported || self.stack.is_empty(),
            Scope::Library => exported,
        };
        if keep {
            self.defs.push(RawDef {
                name: kw + 2,
                kind: Kind::Macro,
                is_macro: true,
                owner: None,
                first: kw,
                end: End::Header,
            });
        }
        kw + 3
    }

    /// A variant directly inside an enum body: after `{`, `,` or an attribute's `]`.
    fn variant(&mut self, i: usize) {
        let in_enum = matches!(
            self.stack.last(),
            Some(Frame {
                open: b'{',
                owner: Some((_, OwnerKind::Enum))
            })
        );
        let lx = self.lx;
        let after_separator = i > 0
            && (lx.is_punct(i - 1, b'{') || lx.is_punct(i - 1, b',') || lx.is_punct(i - 1, b']'));
        if in_enum && after_separator && lx.text(i) != "pub" {
            self.record(i, Kind::Constant, i, End::Variant, true, false);
        }
    }

    /// `impl<T> Trait for Owner<T> where … {`: its body's items become `Owner::item`.
    fn impl_header(&mut self, kw: usize) -> usize {
        let lx = self.lx;
        let mut j = kw + 1;
        if lx.is_punct(j, b'<') {
            j = skip_angles(lx, j);
        }
        let (mut owner, mut kind) = (None, OwnerKind::Impl);
        let (mut angle, mut paren) = (0i32, 0i32);
        while let Some(k) = lx.kind(j) {
            match (k, lx.text(j)) {
                (Tk::Punct(b'{'), _) if paren == 0 => break,
                (Tk::Punct(b';' | b'}'), _) => return j,
                (Tk::Punct(b'<'), _) => angle += 1,
                (Tk::Punct(b'>'), _) if !lx.is_punct(j.wrapping_sub(1), b'-') => angle -= 1,
                (Tk::Punct(b'(' | b'['), _) => paren += 1,
                (Tk::Punct(b')' | b']'), _) => paren -= 1,
                (Tk::Ident, "for") if angle == 0 && paren == 0 => {
                    owner = None;
                    kind = OwnerKind::TraitImpl;
                }
                (Tk::Ident, "where") if angle == 0 && paren == 0 => {
                    if let Some(open) = find_body(lx, j) {
                        j = open;
                    }
                    break;
                }
                (Tk::Ident, "dyn" | "mut" | "unsafe" | "const") => {}
                // An unfinished `impl` (still being typed): leave the rest to the walk.
                (Tk::Ident, word)
                    if is_statement_keyword(word) && !matches!(word, "for" | "where") =>
                {
                    return j;
                }
                (Tk::Ident, _) if angle == 0 && paren == 0 => owner = Some(j),
                _ => {}
            }
            j += 1;
        }
        if let Some(name) = owner
            && lx.is_punct(j, b'{')
        {
            self.pending = Some((j, name, kind));
        }
        j // the walk continues at the body's `{`, past the header's `for`
    }

    /// Names bound by a simple `let` or `for … in` pattern.
    fn pattern(&mut self, kw: usize, is_for: bool) -> usize {
        let lx = self.lx;
        let keeps = match self.scope {
            Scope::Request => true,
            Scope::Learned => !is_for && self.stack.is_empty(),
            Scope::Library => false,
        };
        if !keeps {
            return kw + 1;
        }
        let in_condition = kw > 0 && matches!(lx.text(kw - 1), "if" | "while");
        let end = if is_for || in_condition {
            End::Header
        } else {
            End::Semi
        };
        let mut names = Vec::new();
        let mut depth = 0i32;
        let mut j = kw + 1;
        let complete = loop {
            if j > kw + MAX_PATTERN_TOKENS {
                break false;
            }
            let Some(k) = lx.kind(j) else { break false };
            match k {
                Tk::Punct(b'(' | b'[' | b'{') => depth += 1,
                Tk::Punct(b')' | b']' | b'}') if depth == 0 => break false,
                Tk::Punct(b')' | b']' | b'}') => depth -= 1,
                Tk::Punct(b'=' | b';' | b':') if depth == 0 && !is_for => break true,
                Tk::Ident if is_for && depth == 0 && lx.text(j) == "in" => break true,
                Tk::Ident if is_binding(lx, j, depth) => names.push(j),
                _ => {}
            }
            j += 1;
        };
        if complete {
            for name in names {
                self.record(name, Kind::Variable, kw, end, true, false);
            }
        }
        kw + 1
    }

    /// `use a::b::{C, D as E, self};`: the last segments (or aliases) it brings in.
    fn use_tree(&mut self, kw: usize) -> usize {
        let lx = self.lx;
        if kw > 0 && lx.is_punct(kw - 1, b'+') {
            return kw + 1; // `impl Trait + use<'a>`: precise capturing, not an import
        }
        let (first, is_pub) = item_first(lx, kw);
        // The module named before each open `::{`, for a `self` leaf.
        let mut groups: Vec<Option<usize>> = Vec::new();
        let mut j = kw + 1;
        while let Some(k) = lx.kind(j) {
            let after_path = j > 0 && lx.kind(j - 1) == Some(Tk::PathSep);
            match k {
                Tk::Punct(b';') => break,
                // An unfinished `use` (still being typed): leave the rest to the walk.
                Tk::Punct(b'{') if !after_path => return j,
                Tk::Ident if is_statement_keyword(lx.text(j)) => return j,
                Tk::Punct(b'{') => {
                    let parent = j.checked_sub(2);
                    groups.push(parent.filter(|&p| lx.kind(p) == Some(Tk::Ident)));
                }
                // An unbalanced `}`: not a use statement we understand.
                Tk::Punct(b'}') if groups.pop().is_none() => break,
                Tk::Ident if is_use_leaf(lx, j) => {
                    let name = match lx.text(j) {
                        "self" => groups.last().copied().flatten(),
                        _ => Some(j),
                    };
                    let name = if lx.text(j + 1) == "as" {
                        Some(j + 2)
                    } else {
                        name
                    };
                    if let Some(n) = name.filter(|&n| lx.kind(n) == Some(Tk::Ident)) {
                        self.record(n, use_kind(lx.text(n)), first, End::Semi, is_pub, false);
                    }
                }
                _ => {}
            }
            j += 1;
        }
        j
    }
}

/// Keywords that cannot appear in a use tree or (but `for`/`where`) an impl header:
/// an unfinished `use`/`impl` ends before them.
fn is_statement_keyword(word: &str) -> bool {
    !matches!(word, "self" | "Self" | "crate" | "super" | "as") && KEYWORDS.contains(&word)
}

/// Whether `impl` at `i` starts an item, not an `impl Trait` type (`-> impl Iterator`).
fn is_item_position(lx: &Lexed<'_>, i: usize) -> bool {
    if i == 0 {
        return true;
    }
    match lx.kind(i - 1) {
        Some(Tk::Punct(b';' | b'}' | b'{' | b']')) => true,
        Some(Tk::Ident) => matches!(lx.text(i - 1), "unsafe" | "default" | "pub"),
        _ => false,
    }
}

/// Skips a balanced `<…>` starting at `open`; returns the token after it.
fn skip_angles(lx: &Lexed<'_>, open: usize) -> usize {
    let mut depth = 0i32;
    let mut j = open;
    while let Some(k) = lx.kind(j) {
        match k {
            Tk::Punct(b'<') => depth += 1,
            Tk::Punct(b'>') if !lx.is_punct(j.wrapping_sub(1), b'-') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            Tk::Punct(b'{' | b';') => return j,
            _ => {}
        }
        j += 1;
    }
    j
}

/// The `{` that opens the body of the item whose header continues at `from`.
fn find_body(lx: &Lexed<'_>, from: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut j = from;
    loop {
        match lx.kind(j)? {
            Tk::Punct(b'{') if depth == 0 => return Some(j),
            Tk::Punct(b';' | b'}') if depth == 0 => return None,
            Tk::Punct(b'(' | b'[') => depth += 1,
            Tk::Punct(b')' | b']') => depth -= 1,
            _ => {}
        }
        j += 1;
    }
}

/// The first token of the item whose keyword is at `kw` (over `pub`, `async`, …),
/// and whether it is plainly `pub` (not `pub(crate)`).
fn item_first(lx: &Lexed<'_>, kw: usize) -> (usize, bool) {
    let (mut j, mut is_pub) = (kw, false);
    while j > 0 {
        let p = j - 1;
        match (lx.kind(p), lx.text(p)) {
            (Some(Tk::Ident), "async" | "unsafe" | "const" | "extern" | "default" | "safe") => {
                j = p
            }
            (Some(Tk::Ident), "pub") => {
                j = p;
                is_pub = true;
            }
            (Some(Tk::Literal), _) if p > 0 && lx.text(p - 1) == "extern" => j = p,
            (Some(Tk::Punct(b')')), _) => match restricted_pub(lx, p) {
                Some(pub_tok) => j = pub_tok,
                None => break,
            },
            _ => break,
        }
    }
    (j, is_pub)
}

/// For `pub(crate)`/`pub(in path)` ending at `close`, the `pub` token.
fn restricted_pub(lx: &Lexed<'_>, close: usize) -> Option<usize> {
    let open = (close.saturating_sub(6)..close)
        .rev()
        .find(|&k| lx.is_punct(k, b'('))?;
    let pub_tok = open.checked_sub(1)?;
    (lx.text(pub_tok) == "pub").then_some(pub_tok)
}

/// Whether one of the `#[…]` attributes just before `item` mentions `name`.
fn has_attribute(lx: &Lexed<'_>, item: usize, name: &str) -> bool {
    let mut j = item;
    while j > 0 && lx.is_punct(j - 1, b']') {
        let mut depth = 0i32;
        let mut k = j - 1;
        let open = loop {
            match lx.kind(k) {
                Some(Tk::Punct(b']')) => depth += 1,
                Some(Tk::Punct(b'[')) => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break k;
            }
            if k == 0 {
                return false;
            }
            k -= 1;
        };
        if (open..j).any(|m| lx.text(m) == name) {
            return true;
        }
        if open == 0 || !lx.is_punct(open - 1, b'#') {
            return false;
        }
        j = open - 1;
    }
    false
}

/// Whether the identifier at `j` inside a pattern binds a name.
fn is_binding(lx: &Lexed<'_>, j: usize, depth: i32) -> bool {
    let text = lx.text(j);
    if matches!(text, "mut" | "ref" | "box" | "_" | "in") || KEYWORDS.contains(&text) {
        return false;
    }
    let next = lx.kind(j + 1);
    let constructor = matches!(
        next,
        Some(Tk::Punct(b'(' | b'{' | b'!')) | Some(Tk::PathSep)
    );
    let path_tail = j > 0 && lx.kind(j - 1) == Some(Tk::PathSep);
    // Inside `Point { x: px }`, `x` is a field; inside `(A, b)`, `A` is a constant.
    let field = depth > 0 && next == Some(Tk::Punct(b':'));
    let constant = depth > 0 && text.starts_with(|c: char| c.is_uppercase());
    !(constructor || path_tail || field || constant)
}

/// Whether the identifier at `j` in a use tree is a leaf (`C` in `a::{B, C}`).
fn is_use_leaf(lx: &Lexed<'_>, j: usize) -> bool {
    let after_as = j > 0 && lx.text(j - 1) == "as";
    let ends = matches!(lx.kind(j + 1), Some(Tk::Punct(b',' | b'}' | b';')) | None)
        || lx.text(j + 1) == "as";
    ends && !after_as && lx.text(j) != "as"
}

/// Imports carry no kind; Rust's naming conventions are a good guess.
fn use_kind(name: &str) -> Kind {
    let upper = name
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(char::is_uppercase);
    match name.chars().next() {
        Some(c) if c.is_uppercase() && upper && name.len() > 1 => Kind::Constant,
        Some(c) if c.is_uppercase() => Kind::Type,
        _ => Kind::Module,
    }
}

fn raw_name<'a>(lx: &Lexed<'a>, d: &RawDef) -> Cow<'a, str> {
    let name = lx.text(d.name);
    if d.is_macro {
        Cow::Owned(format!("{name}!"))
    } else {
        Cow::Borrowed(name)
    }
}

// ---------------------------------------------------------------------------
// Descriptions

/// A stored definition (learned or library), with its description ready.
#[derive(Debug, Clone)]
struct Def {
    name: String,
    kind: Kind,
    owner: Option<String>,
    text: String,
}

type DefKey = (Option<String>, String);

impl Def {
    fn key(&self) -> DefKey {
        (self.owner.clone(), self.name.clone())
    }
}

fn owned_defs(src: &str, scope: Scope) -> Vec<Def> {
    let lx = lex(src);
    collect(&lx, scope)
        .iter()
        .map(|d| Def {
            name: raw_name(&lx, d).into_owned(),
            kind: d.kind,
            owner: d.owner.map(|o| lx.text(o).to_string()),
            text: describe(&lx, d),
        })
        .collect()
}

/// The definition's text (whitespace collapsed), its owner, and its `///` docs.
fn describe(lx: &Lexed<'_>, d: &RawDef) -> String {
    let start = lx.toks.get(d.first).map_or(0, |t| t.start);
    let end = detail_end(lx, d.first, d.end).max(start);
    let mut text = collapse(lx.src.get(start..end).unwrap_or(""));
    if let Some(owner) = d.owner {
        let path = format!("{}::{}", lx.text(owner), lx.text(d.name));
        // A unit variant's text is just its name: the path says it all.
        text = if text == lx.text(d.name) {
            path
        } else {
            format!("{path}\n{text}")
        };
    }
    let doc = doc_above(lx.src, start);
    if !doc.is_empty() {
        text.push_str("\n\n");
        text.push_str(&doc);
    }
    text
}

/// Byte offset where the description of the item starting at token `first` ends.
fn detail_end(lx: &Lexed<'_>, first: usize, end: End) -> usize {
    let mut depth = 0i32;
    let mut j = first;
    let mut last = lx.toks.get(first).map_or(0, |t| t.end);
    while let Some(t) = lx.toks.get(j) {
        match (t.kind, end) {
            (Tk::Punct(b'{'), End::Header) if depth == 0 => return t.start,
            (Tk::Punct(b';'), End::Semi | End::Header) if depth == 0 => return t.end,
            (Tk::Punct(b','), End::Variant) if depth == 0 => return t.start,
            (Tk::Punct(b'(' | b'[' | b'{'), _) => depth += 1,
            (Tk::Punct(b')' | b']' | b'}'), _) if depth == 0 => return t.start,
            (Tk::Punct(b')' | b']' | b'}'), _) => depth -= 1,
            _ => {}
        }
        last = t.end;
        j += 1;
    }
    last
}

/// One line, whitespace runs collapsed, cut at a tooltip's length.
fn collapse(text: &str) -> String {
    let mut out = String::new();
    for (n, word) in text.split_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > MAX_DETAIL_CHARS * 4 {
            break; // enough to cut from; don't copy a whole huge statement
        }
    }
    if out.chars().count() > MAX_DETAIL_CHARS {
        out = out.chars().take(MAX_DETAIL_CHARS).collect();
        out.push('…');
    }
    out
}

/// The `///` lines just above the line holding `item_start`, over attributes.
fn doc_above(src: &str, item_start: usize) -> String {
    let head = src.get(..item_start).unwrap_or("");
    let line_start = head.rfind('\n').map_or(0, |n| n + 1);
    let mut lines = Vec::new();
    for line in head.get(..line_start).unwrap_or("").lines().rev() {
        let line = line.trim();
        if let Some(doc) = line.strip_prefix("///").filter(|d| !d.starts_with('/')) {
            lines.push(doc.strip_prefix(' ').unwrap_or(doc));
        } else if !line.starts_with("#[") {
            break;
        }
    }
    lines.reverse();
    let cut = lines.len().saturating_sub(MAX_DOC_LINES);
    if cut > 0 {
        lines.truncate(MAX_DOC_LINES);
        lines.push("…");
    }
    lines.join("\n")
}

/// The request's definition of `name`: the nearest one before the cursor, else the first.
fn request_description(
    lx: &Lexed<'_>,
    name: &str,
    owner: Option<&str>,
    at: usize,
) -> Option<String> {
    let raw = collect(lx, Scope::Request);
    let same = |d: &&RawDef| raw_name(lx, d) == name && d.owner.map(|o| lx.text(o)) == owner;
    let before = raw
        .iter()
        .rev()
        .filter(same)
        .find(|d| lx.toks.get(d.name).is_some_and(|t| t.start <= at));
    let def = before.or_else(|| raw.iter().find(same))?;
    Some(describe(lx, def))
}

fn builtin_description(name: &str, owner: Option<&str>) -> Option<String> {
    match owner {
        None => BUILTINS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, path)| format!("{path} (standard library)")),
        Some(q) => BUILTIN_ITEMS
            .iter()
            .any(|(o, items)| *o == q && items.contains(&name))
            .then(|| format!("{q}::{name} (standard library)")),
    }
}

// ---------------------------------------------------------------------------
// Ranking

/// A name that matched: 0 = case-sensitive prefix, 1 = case-insensitive prefix.
type Candidate<'s> = (u8, Kind, Cow<'s, str>);

fn push_match<'s>(found: &mut Vec<Candidate<'s>>, prefix: &str, kind: Kind, name: Cow<'s, str>) {
    let level = if name.starts_with(prefix) {
        0
    } else if name
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    {
        1
    } else {
        return;
    };
    found.push((level, kind, name));
}

/// Exact-case prefix matches first, then by kind, then alphabetically; each name once.
fn rank(mut found: Vec<Candidate<'_>>) -> Vec<String> {
    found.sort_unstable();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (_, _, name) in &found {
        if seen.insert(name.as_ref()) {
            out.push(name.to_string());
            if out.len() == MAX_MATCHES {
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Built-in vocabulary

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

/// Common std names: (name, kind, path shown by `inspect`).
const BUILTINS: &[(&str, Kind, &str)] = &[
    ("Vec", Kind::Type, "std::vec::Vec<T>"),
    ("String", Kind::Type, "std::string::String"),
    ("HashMap", Kind::Type, "std::collections::HashMap<K, V>"),
    ("HashSet", Kind::Type, "std::collections::HashSet<T>"),
    ("BTreeMap", Kind::Type, "std::collections::BTreeMap<K, V>"),
    ("BTreeSet", Kind::Type, "std::collections::BTreeSet<T>"),
    ("VecDeque", Kind::Type, "std::collections::VecDeque<T>"),
    ("Option", Kind::Type, "std::option::Option<T>"),
    ("Result", Kind::Type, "std::result::Result<T, E>"),
    ("Box", Kind::Type, "std::boxed::Box<T>"),
    ("Rc", Kind::Type, "std::rc::Rc<T>"),
    ("Arc", Kind::Type, "std::sync::Arc<T>"),
    ("Mutex", Kind::Type, "std::sync::Mutex<T>"),
    ("RwLock", Kind::Type, "std::sync::RwLock<T>"),
    ("RefCell", Kind::Type, "std::cell::RefCell<T>"),
    ("Cell", Kind::Type, "std::cell::Cell<T>"),
    ("Duration", Kind::Type, "std::time::Duration"),
    ("Instant", Kind::Type, "std::time::Instant"),
    ("PathBuf", Kind::Type, "std::path::PathBuf"),
    ("Iterator", Kind::Type, "std::iter::Iterator"),
    ("Default", Kind::Type, "std::default::Default"),
    ("Clone", Kind::Type, "std::clone::Clone"),
    ("Debug", Kind::Type, "std::fmt::Debug"),
    ("Display", Kind::Type, "std::fmt::Display"),
    ("ToString", Kind::Type, "std::string::ToString"),
    ("From", Kind::Type, "std::convert::From"),
    ("Into", Kind::Type, "std::convert::Into"),
    ("Some", Kind::Constant, "std::option::Option::Some"),
    ("None", Kind::Constant, "std::option::Option::None"),
    ("Ok", Kind::Constant, "std::result::Result::Ok"),
    ("Err", Kind::Constant, "std::result::Result::Err"),
    ("std", Kind::Module, "the standard library"),
    ("drop", Kind::Function, "std::mem::drop"),
    ("println!", Kind::Macro, "std::println!"),
    ("print!", Kind::Macro, "std::print!"),
    ("eprintln!", Kind::Macro, "std::eprintln!"),
    ("eprint!", Kind::Macro, "std::eprint!"),
    ("format!", Kind::Macro, "std::format!"),
    ("vec!", Kind::Macro, "std::vec!"),
    ("assert!", Kind::Macro, "std::assert!"),
    ("assert_eq!", Kind::Macro, "std::assert_eq!"),
    ("assert_ne!", Kind::Macro, "std::assert_ne!"),
    ("debug_assert!", Kind::Macro, "std::debug_assert!"),
    ("panic!", Kind::Macro, "std::panic!"),
    ("todo!", Kind::Macro, "std::todo!"),
    ("unimplemented!", Kind::Macro, "std::unimplemented!"),
    ("unreachable!", Kind::Macro, "std::unreachable!"),
    ("write!", Kind::Macro, "std::write!"),
    ("writeln!", Kind::Macro, "std::writeln!"),
    ("dbg!", Kind::Macro, "std::dbg!"),
    ("matches!", Kind::Macro, "std::matches!"),
    (
        "macro_rules!",
        Kind::Macro,
        "macro_rules! (declarative macros)",
    ),
];

/// A few well-known associated functions, for `Vec::` and friends.
const BUILTIN_ITEMS: &[(&str, &[&str])] = &[
    ("Vec", &["new", "with_capacity", "from"]),
    (
        "String",
        &[
            "new",
            "with_capacity",
            "from",
            "from_utf8",
            "from_utf8_lossy",
        ],
    ),
    ("HashMap", &["new", "with_capacity", "from"]),
    ("HashSet", &["new", "with_capacity", "from"]),
    ("BTreeMap", &["new", "from"]),
    ("BTreeSet", &["new", "from"]),
    ("VecDeque", &["new", "with_capacity", "from"]),
    ("Box", &["new"]),
    ("Rc", &["new", "clone"]),
    ("Arc", &["new", "clone"]),
    ("Mutex", &["new"]),
    ("RwLock", &["new"]),
    ("RefCell", &["new"]),
    ("Cell", &["new"]),
    ("Instant", &["now"]),
    (
        "Duration",
        &[
            "from_secs",
            "from_millis",
            "from_micros",
            "from_nanos",
            "from_secs_f64",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    const LIBRARY: &str = r#"
/// Number of CPUs.
///
/// Like Python's `os.cpu_count()`.
#[inline]
pub fn cpu_count() -> usize {
    1
}

fn private_helper() {}
pub(crate) fn crate_only() {}

/// A pool of worker processes.
pub struct Pool {
    workers: usize,
}

impl Pool {
    /// Maps `f` over `items` in the workers.
    pub fn map_items<T>(&self, items: Vec<T>) -> Vec<T> {
        items
    }
    fn internal_detail(&self) {}
}

pub mod multiprocessing {
    pub fn set_start_method(method: &str) {}
}

#[macro_export]
macro_rules! shared_value {
    () => {};
}

macro_rules! not_exported {
    () => {};
}

pub const DEFAULT_WORKERS: usize = 4;
pub use inner::{Queue, Pipe as Channel};
"#;

    fn completer() -> QuickCompleter {
        QuickCompleter::new([LIBRARY])
    }

    /// Completes with the cursor at the end of `code`.
    fn at_end(c: &QuickCompleter, code: &str) -> QuickMatches {
        c.complete(code, code.len())
    }

    fn has(m: &QuickMatches, name: &str) -> bool {
        m.matches.iter().any(|n| n == name)
    }

    #[test]
    fn offers_a_name_defined_earlier_in_the_cell() {
        let code = "let my_long_variable_name = 1; my_long_var";
        let m = at_end(&completer(), code);
        assert!(has(&m, "my_long_variable_name"), "{m:?}");
        assert_eq!((m.start, m.end), (31, code.len()));
        assert_eq!(&code[m.start..m.end], "my_long_var");
    }

    #[test]
    fn offers_names_defined_after_the_cursor_but_not_the_token_typed() {
        let c = completer();
        let code = "let total_a = 1;\nlet tot";
        let m = at_end(&c, code);
        assert!(has(&m, "total_a"));
        assert!(
            !has(&m, "tot"),
            "the binding being typed is not a candidate: {m:?}"
        );
        let code = "tot\nfn total_later() {}";
        assert!(has(&c.complete(code, 3), "total_later"));
    }

    #[test]
    fn learns_and_forgets_cells() {
        let mut c = completer();
        c.learn(
            "let mut counter_x = 0;\nlet (left_a, mut right_b) = (1, 2);\n\
             fn helper_fn(a: i32) -> i32 { let inner_local = a; inner_local }\n\
             struct PointXy { x: i32 }\nenum ShapeKind { Circle, Square(u32) }\n\
             trait Drawable { fn draw_it(&self); }\ntype Alias_t = u8;\n\
             const LIMIT_N: usize = 3;\nstatic mut GLOBAL_G: u8 = 0;\nmod tools_m {}\n\
             macro_rules! my_mac { () => {} }\n\
             use std::collections::HashMap;\nuse a::{Bee, Cee as Dee, io::{self, Read}};\n\
             impl PointXy { fn new_point() -> Self { PointXy { x: 0 } } }",
        );
        let names = [
            ("count", "counter_x"),
            ("lef", "left_a"),
            ("righ", "right_b"),
            ("help", "helper_fn"),
            ("Poin", "PointXy"),
            ("Shap", "ShapeKind"),
            ("Draw", "Drawable"),
            ("Alia", "Alias_t"),
            ("LIMI", "LIMIT_N"),
            ("GLOB", "GLOBAL_G"),
            ("tool", "tools_m"),
            ("my_m", "my_mac!"),
            ("HashM", "HashMap"),
            ("Be", "Bee"),
            ("De", "Dee"),
            ("io", "io"),
            ("Rea", "Read"),
        ];
        for (prefix, name) in names {
            assert!(has(&at_end(&c, prefix), name), "{prefix} -> {name}");
        }
        // Locals of a function body do not outlive the cell; `Cee` was renamed.
        assert!(!has(&at_end(&c, "inner_l"), "inner_local"));
        assert!(!has(&at_end(&c, "Ce"), "Cee"));
        // Items of impls and enums are offered after their owner's path.
        assert!(has(&at_end(&c, "PointXy::new"), "new_point"));
        assert_eq!(at_end(&c, "ShapeKind::").matches, ["Circle", "Square"]);
        assert!(has(&at_end(&c, "Drawable::"), "draw_it"));

        c.forget();
        assert!(!has(&at_end(&c, "count"), "counter_x"));
        assert!(at_end(&c, "PointXy::").matches.is_empty());
    }

    #[test]
    fn later_cells_replace_earlier_definitions() {
        let mut c = completer();
        c.learn("let value_v = 1;");
        c.learn("let value_v: String = String::new();");
        assert_eq!(
            c.inspect("value_v", 0).as_deref(),
            Some("let value_v: String = String::new();")
        );
    }

    #[test]
    fn offers_public_library_names_only() {
        let c = completer();
        assert!(has(&at_end(&c, "cpu_c"), "cpu_count"));
        assert!(has(&at_end(&c, "Poo"), "Pool"));
        assert!(has(&at_end(&c, "multip"), "multiprocessing"));
        assert!(has(&at_end(&c, "shared_"), "shared_value!"));
        assert!(has(&at_end(&c, "DEFAULT_"), "DEFAULT_WORKERS"));
        assert!(has(&at_end(&c, "Que"), "Queue"));
        assert!(has(&at_end(&c, "Chan"), "Channel"));
        assert!(at_end(&c, "private_h").matches.is_empty());
        assert!(at_end(&c, "crate_o").matches.is_empty());
        assert!(at_end(&c, "not_exp").matches.is_empty());
        assert_eq!(at_end(&c, "Pool::").matches, ["map_items"]);
        assert_eq!(
            at_end(&c, "multiprocessing::set").matches,
            ["set_start_method"]
        );
    }

    #[test]
    fn offers_std_macros_with_their_bang_and_keywords() {
        let c = completer();
        let m = at_end(&c, "prin");
        assert_eq!(
            m.matches,
            ["println!", "print!"].map(String::from).to_vec().tap_sort()
        );
        assert!(has(&at_end(&c, "Hash"), "HashMap"));
        assert!(has(&at_end(&c, "whe"), "where"));
        assert!(has(&at_end(&c, "Vec::with"), "with_capacity"));
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }

    #[test]
    fn ranks_exact_case_first_then_by_kind_and_name() {
        let c = QuickCompleter::new([]);
        let code = "fn data_fn() {}\nlet data_b = 1; let data_a = 2; struct DataT; Da";
        assert_eq!(
            at_end(&c, code).matches,
            ["DataT", "data_a", "data_b", "data_fn"]
        );
        let code = "let data_b = 1; let data_a = 2; fn data_fn() {} da";
        assert_eq!(at_end(&c, code).matches, ["data_a", "data_b", "data_fn"]);
        // Each name once, and never more than MAX_MATCHES.
        let many: String = (0..500)
            .map(|n| format!("let v{n} = 1; let v{n} = 2;\n"))
            .collect();
        let m = at_end(&c, &format!("{many}v"));
        assert_eq!(m.matches.len(), MAX_MATCHES);
        assert_eq!(m.matches.iter().collect::<HashSet<_>>().len(), MAX_MATCHES);
    }

    #[test]
    fn skips_strings_and_comments() {
        let c = completer();
        let code = concat!(
            "let s = \"let fake_a = 1;\"; // let fake_b = 2;\n",
            "/* let fake_c = 3; /* nested */ let fake_d = 4; */\n",
            "let r = r#\"let fake_e = \"quoted\"; \"#; let q = '\"'; let real_x = 1;\n",
            "let e = '\\''; let bytes = b\"let fake_f\"; let real_y = 2;\n",
            "fn lt<'a>(x: &'a str) -> &'a str { x } let real_z = 3;\n",
            "fa re",
        );
        let m = c.complete(code, code.len() - 3);
        assert!(m.matches.iter().all(|n| !n.starts_with("fake")), "{m:?}");
        assert_eq!(
            at_end(&c, code).matches,
            [
                "real_x", "real_y", "real_z", "ref", "return", "RefCell", "Result"
            ]
        );
        // Inside a string or a comment, nothing is offered.
        assert!(at_end(&c, "let x = \"pri").matches.is_empty());
        assert!(at_end(&c, "// pri").matches.is_empty());
        assert!(at_end(&c, "/* pri").matches.is_empty());
        assert!(c.complete("\"pri\"", 4).matches.is_empty());
        assert!(has(&at_end(&c, "\"s\"; pri"), "println!"));
    }

    #[test]
    fn method_and_unknown_paths_offer_nothing() {
        let c = completer();
        for code in [
            "let v = vec![1]; v.le",
            "v\n    .ite",
            "std::coll",
            "Unknown::ne",
            "Vec::<u8>::ne",
            "'a",
        ] {
            let m = at_end(&c, code);
            assert!(m.matches.is_empty(), "{code}: {m:?}");
            assert_eq!(m.end, code.len());
        }
        // A range is not a method call.
        assert!(has(&at_end(&c, "let limit_n = 3; 0..lim"), "limit_n"));
    }

    #[test]
    fn request_impls_give_paths() {
        let c = completer();
        let code = "struct Foo;\nimpl Foo { pub fn build_it() -> Foo { Foo } const MAXV: u8 = 1; }\n\
                    impl<T: Clone> std::fmt::Display for crate::Wrap<T> where T: Copy { fn fmt(&self) {} }\n\
                    fn ret() -> impl Iterator<Item = u8> { fn nested_fn() {} std::iter::empty() }\n";
        assert_eq!(
            at_end(&c, &format!("{code}Foo::")).matches,
            ["build_it", "MAXV"]
        );
        assert_eq!(at_end(&c, &format!("{code}Wrap::f")).matches, ["fmt"]);
        assert!(has(&at_end(&c, &format!("{code}nest")), "nested_fn"));
        assert!(!has(&at_end(&c, &format!("{code}bui")), "build_it"));
    }

    #[test]
    fn an_unfinished_statement_does_not_hide_later_definitions() {
        let c = completer();
        let code = "use std::coll
let later_name = 1;
impl
fn later_fn() {}
lat";
        let m = at_end(&c, code);
        assert!(has(&m, "later_name") && has(&m, "later_fn"), "{m:?}");
    }

    #[test]
    fn empty_prefix_offers_nothing() {
        let c = completer();
        let m = at_end(&c, "let x = 1; ");
        assert_eq!(
            m,
            QuickMatches {
                matches: vec![],
                start: 11,
                end: 11
            }
        );
        assert_eq!(
            c.complete("", 0),
            QuickMatches {
                matches: vec![],
                start: 0,
                end: 0
            }
        );
        assert!(at_end(&c, "let x = 12").matches.is_empty());
    }

    #[test]
    fn never_panics_on_any_cursor_or_text() {
        let mut c = completer();
        let texts = [
            "let é_name = \"ünïcödé 😀\"; é_n",
            "r#\"unterminated",
            "r#######",
            "b'",
            "'\\u{1F600",
            "/* open /* nested",
            "\"\\",
            "let (a, (b, c)) = ((1, (2, 3)); impl< for { use a::{self, }};}}}} ))",
            "macro_rules! use impl for let fn enum mod const static r#type r#",
            "😀😀😀::😀.é",
            "impl",
            "let",
            "use {",
            "enum E { #[default] A, B = 1 << 2, C(u8) }",
        ];
        for text in texts {
            c.learn(text);
            let _ = QuickCompleter::new([text]);
            for cursor in 0..text.len() + 3 {
                let m = c.complete(text, cursor);
                assert!(
                    m.start <= m.end && m.end <= text.len(),
                    "{text:?} @ {cursor}"
                );
                assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
                let _ = c.inspect(text, cursor);
            }
        }
        let m = c.complete("let é_name = 1; é_n", usize::MAX);
        assert!(has(&m, "é_name"));
        // In the middle of `😀`: clamped back to the char's start.
        assert_eq!(c.complete("ab😀", 4).end, 2);
    }

    #[test]
    fn inspects_request_learned_and_library_names() {
        let mut c = completer();
        let code = "let my_list: Vec<i32> = vec![1, 2, 3];\nfn add(a: i32,\n    b: i32) -> i32 { a + b }\nmy_list; add(";
        let at = |needle: &str| code.rfind(needle).map_or(0, |n| n + 2);
        assert_eq!(
            c.inspect(code, at("my_list;")).as_deref(),
            Some("let my_list: Vec<i32> = vec![1, 2, 3];")
        );
        assert_eq!(
            c.inspect(code, code.len()).as_deref(),
            Some("fn add(a: i32, b: i32) -> i32")
        );
        assert_eq!(
            c.inspect("cpu_count()", 3).as_deref(),
            Some(
                "pub fn cpu_count() -> usize\n\nNumber of CPUs.\n\nLike Python's `os.cpu_count()`."
            )
        );
        assert_eq!(
            c.inspect("Pool::map_items(", 10).as_deref(),
            Some(
                "Pool::map_items\npub fn map_items<T>(&self, items: Vec<T>) -> Vec<T>\n\nMaps `f` over `items` in the workers."
            )
        );
        c.learn("/// Squares.\nfn square(x: u64) -> u64 { x * x }");
        assert_eq!(
            c.inspect("square(", 7).as_deref(),
            Some("fn square(x: u64) -> u64\n\nSquares.")
        );
        assert!(
            c.inspect("println!(", 9)
                .is_some_and(|t| t.contains("std::println!"))
        );
        // Shadowing: the definition nearest before the cursor wins.
        let code = "let x = 1;\nlet x = \"two\";\nx";
        assert_eq!(
            c.inspect(code, code.len()).as_deref(),
            Some("let x = \"two\";")
        );
        assert_eq!(c.inspect("unknown_thing", 3), None);
        assert_eq!(c.inspect("v.len()", 3), None);
        assert_eq!(c.inspect("// cpu_count", 6), None);
        assert_eq!(c.inspect("   ", 2), None);
    }

    #[test]
    fn a_100_kb_cell_completes_quickly() {
        let mut cell = String::new();
        let mut n = 0;
        while cell.len() < 100_000 {
            cell.push_str(&format!(
                "/// Doc {n}.\nfn func_{n}(a: i32) -> i32 {{\n    let local_{n} = \"text {n}\"; // comment\n    a + {n}\n}}\nstruct Type{n} {{ x: u8 }}\nimpl Type{n} {{ fn method_{n}(&self) {{}} }}\n"
            ));
            n += 1;
        }
        cell.push_str("\nfunc_1");
        let mut c = completer();
        let started = std::time::Instant::now();
        let rounds = 20;
        let mut found = 0;
        for _ in 0..rounds {
            found = c.complete(&cell, cell.len()).matches.len();
        }
        let per_call = started.elapsed() / rounds;
        let started = std::time::Instant::now();
        let text = c.inspect(&cell, cell.len());
        let inspect = started.elapsed();
        let started = std::time::Instant::now();
        c.learn(&cell);
        let learn = started.elapsed();
        println!(
            "{} KB cell, {n} items: complete {per_call:?} ({found} matches), inspect {inspect:?}, learn {learn:?}",
            cell.len() / 1000
        );
        assert!(found > 0 && text.is_some() && c.learned.len() > n);
    }
}
