//! Tokens → AST: the recursive-descent parser. This module owns the token cursor, error
//! reporting and the top level (C definitions, config, map declarations, macros, probes);
//! `stmt`, `expr` and `types` own the rest of the grammar.
//!
//! Error policy: a syntax error that leaves the parser unsure where it is (`expected ';'`)
//! is fatal and stops parsing, like bpftrace; problems that do not derail the grammar (a bad
//! integer suffix, `$0`, `5++`) are recorded and parsing goes on. Messages follow bpftrace's
//! current parser: `syntax: expected ';'`, spanning the offending token.
mod expr;
mod stmt;
mod types;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::lexer::{syntax_error, Lexer};
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// Marks that a fatal diagnostic was recorded; unwinds the parse.
#[derive(Debug)]
pub(crate) struct Fatal;

pub(crate) type PResult<T> = Result<T, Fatal>;

/// Deeper nesting than this is refused, so hostile input cannot overflow the stack. Each
/// recursive grammar rule costs 1, a block `BLOCK_COST` (its frames are much larger). With
/// this budget, unoptimised builds stay under half of a 2 MiB thread stack (test threads).
const MAX_DEPTH: u32 = 200;
pub(crate) const BLOCK_COST: u32 = 4;
/// Operator chains (`a + b + c ...`, `x.a.b[1]...`) are parsed in loops but build trees as deep as
/// they are long, which every later pass walks recursively: a chain's links count against
/// this budget along each path of the tree.
const MAX_CHAIN: u32 = 1000;

pub struct Parser<'a> {
    lexer: Lexer<'a>,
    /// The current token, lexed on demand: at the top level the cursor is moved by the raw
    /// scanners, so a token must never be lexed ahead of the parser's decision.
    tok: Option<Token>,
    /// End of the last consumed token: where node spans end, and where raw scanning resumes.
    prev_end: usize,
    diags: Vec<Diagnostic>,
    /// Set while parsing an `if`/`while`/`unroll`/`for` header without parentheses: there a
    /// `{` opens the body, never a block expression.
    no_block_expr: bool,
    depth: u32,
    /// Links of the operator chains being parsed (see [`MAX_CHAIN`]).
    chain: u32,
}

/// Read-only lookahead: a copy of the cursor lexing tokens that are then thrown away.
pub(crate) struct Look<'a> {
    lexer: Lexer<'a>,
    tok: Option<Token>,
}

/// What the type grammar in `types` reads tokens from: the parser itself, or a `Look`.
pub(crate) trait TokenSource {
    fn peek(&mut self) -> &Token;
    fn bump(&mut self) -> Token;
}

impl TokenSource for Look<'_> {
    fn peek(&mut self) -> &Token {
        let lexer = &mut self.lexer;
        self.tok.get_or_insert_with(|| lexer.next_token())
    }
    fn bump(&mut self) -> Token {
        let lexer = &mut self.lexer;
        self.tok.take().unwrap_or_else(|| lexer.next_token())
    }
}

impl TokenSource for Parser<'_> {
    fn peek(&mut self) -> &Token {
        Parser::peek(self)
    }
    fn bump(&mut self) -> Token {
        Parser::bump(self)
    }
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str) -> Self {
        Parser {
            lexer: Lexer::new(src),
            tok: None,
            prev_end: 0,
            diags: Vec::new(),
            no_block_expr: false,
            depth: 0,
            chain: 0,
        }
    }

    /// Parses a whole program; any diagnostic makes it an error.
    pub fn parse_program(mut self) -> Result<Program, Vec<Diagnostic>> {
        let mut program = Program::default();
        // A Fatal has already recorded its diagnostic.
        let _ = self.parse_items(&mut program);
        if self.diags.is_empty() {
            Ok(program)
        } else {
            Err(self.diags)
        }
    }

    // ---- token cursor ----

    pub(crate) fn peek(&mut self) -> &Token {
        let lexer = &mut self.lexer;
        self.tok.get_or_insert_with(|| lexer.next_token())
    }

    pub(crate) fn peek_kind(&mut self) -> &TokenKind {
        &self.peek().kind
    }

    /// Consumes the current token, recording any diagnostics found while lexing it.
    pub(crate) fn bump(&mut self) -> Token {
        self.peek();
        let mut tok = self.tok.take().expect("peeked");
        self.prev_end = tok.span.end as usize;
        self.diags.append(&mut tok.diags);
        tok
    }

    pub(crate) fn at(&mut self, kind: &TokenKind) -> bool {
        self.peek_kind() == kind
    }

    pub(crate) fn at_ident(&mut self, word: &str) -> bool {
        self.peek().is_ident(word)
    }

    pub(crate) fn eat(&mut self, kind: &TokenKind) -> bool {
        if self.at(kind) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// A lookahead cursor positioned at the current token.
    pub(crate) fn look(&mut self) -> Look<'a> {
        let tok = self.peek().clone();
        Look { lexer: self.lexer.clone(), tok: Some(tok) }
    }

    /// The kind of the token `n` places after the current one (0 = current).
    pub(crate) fn peek_nth(&mut self, n: usize) -> TokenKind {
        let mut look = self.look();
        for _ in 0..n {
            look.bump();
        }
        look.peek().kind.clone()
    }

    pub(crate) fn span_from(&self, start: Span) -> Span {
        Span { start: start.start, end: (self.prev_end as u32).max(start.start) }
    }

    /// Consumes a token of `kind` or fails with `expected 'what'`.
    pub(crate) fn expect(&mut self, kind: &TokenKind, what: &str) -> PResult<Token> {
        if self.at(kind) {
            Ok(self.bump())
        } else {
            Err(self.error_here(format!("expected '{what}'")))
        }
    }

    pub(crate) fn expect_ident(&mut self, msg: &str) -> PResult<(String, Span)> {
        match self.peek().kind.clone() {
            TokenKind::Ident(name) => {
                let span = self.bump().span;
                Ok((name, span))
            }
            _ => Err(self.error_here(msg)),
        }
    }

    /// Records a fatal error spanning the current token. A token the lexer already found
    /// broken (an invalid character) reports its own problem instead.
    pub(crate) fn error_here(&mut self, msg: impl AsRef<str>) -> Fatal {
        let tok = self.bump();
        if tok.kind != TokenKind::Error {
            self.diags.push(syntax_error(tok.span, msg));
        }
        Fatal
    }

    pub(crate) fn error_at(&mut self, span: Span, msg: impl AsRef<str>) -> Fatal {
        self.diags.push(syntax_error(span, msg));
        Fatal
    }

    /// Records a non-fatal error: the parse goes on.
    pub(crate) fn report(&mut self, span: Span, msg: impl AsRef<str>) {
        self.diags.push(syntax_error(span, msg));
    }

    pub(crate) fn enter(&mut self, cost: u32) -> PResult<()> {
        self.depth += cost;
        if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            return Err(self.error_at(span, "program is nested too deeply"));
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self, cost: u32) {
        self.depth -= cost;
    }

    /// One more link of an operator chain (see [`MAX_CHAIN`]); [`Self::unchain`] gives back a
    /// chain's links when it is complete.
    pub(crate) fn chain_link(&mut self) -> PResult<()> {
        self.chain += 1;
        if self.chain > MAX_CHAIN {
            let span = self.peek().span;
            return Err(self.error_at(span, format!("expression is too long (over {MAX_CHAIN} operators in a chain)")));
        }
        Ok(())
    }

    pub(crate) fn unchain(&mut self, links: u32) {
        self.chain -= links;
    }

    /// Runs `f` with block expressions allowed again (inside parentheses, brackets, calls).
    pub(crate) fn with_blocks_allowed<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let saved = std::mem::replace(&mut self.no_block_expr, false);
        let r = f(self);
        self.no_block_expr = saved;
        r
    }

    /// Hands the cursor to the raw scanners: drops any lookahead token and skips trivia.
    fn raw(&mut self) -> PResult<&mut Lexer<'a>> {
        self.tok = None;
        self.lexer.set_pos(self.prev_end);
        if let Some(d) = self.lexer.skip_trivia() {
            self.diags.push(d);
            return Err(Fatal);
        }
        Ok(&mut self.lexer)
    }

    /// Marks everything the raw scanner read as consumed.
    fn raw_done(&mut self) {
        self.prev_end = self.lexer.pos();
    }

    // ---- top level ----

    fn parse_items(&mut self, program: &mut Program) -> PResult<()> {
        self.raw()?.skip_shebang();
        self.raw_done();
        // Whether a probe, macro or map declaration was seen: C definitions and config
        // must come before those.
        let mut main_started = false;
        let mut config_seen = false;
        loop {
            let lexer = self.raw()?;
            let Some(c) = lexer.peek_char() else { return Ok(()) };
            if c == '#' {
                let (text, span) = lexer.scan_preprocessor_line();
                self.raw_done();
                if main_started {
                    self.report(span, "C definitions must appear before probes and functions");
                }
                program.c_definitions.push(CDefinition { text, span });
                continue;
            }
            if c == ';' {
                // A stray `;` between items is harmless.
                let pos = lexer.pos() + 1;
                lexer.set_pos(pos);
                self.raw_done();
                continue;
            }
            let word = lexer.peek_word();
            // `word:` is always an attach point, whatever the word.
            if lexer.byte_after_word() == b':' {
                program.probes.push(self.parse_probe()?);
                main_started = true;
                continue;
            }
            match word {
                "struct" | "union" | "enum" if lexer.looks_like_c_definition() => {
                    let (text, span) = match lexer.scan_c_definition() {
                        Ok(def) => def,
                        Err(d) => {
                            self.diags.push(d);
                            return Err(Fatal);
                        }
                    };
                    self.raw_done();
                    if main_started {
                        self.report(span, "C definitions must appear before probes and functions");
                    }
                    program.c_definitions.push(CDefinition { text, span });
                }
                "config" => {
                    let keyword = self.peek().span;
                    let items = self.parse_config()?;
                    if main_started {
                        self.report(keyword, "config must appear before probes and functions");
                    } else if config_seen {
                        self.report(keyword, "duplicate config block");
                    } else {
                        program.config = items;
                    }
                    config_seen = true;
                }
                "let" => {
                    program.map_decls.push(self.parse_map_decl()?);
                    main_started = true;
                }
                "macro" => {
                    program.macros.push(self.parse_macro()?);
                    main_started = true;
                }
                "fn" => {
                    let span = self.peek().span;
                    return Err(self.error_at(span, "'fn' subprograms are not supported"));
                }
                "import" => {
                    let span = self.peek().span;
                    return Err(self.error_at(span, "'import' is not supported"));
                }
                _ => {
                    program.probes.push(self.parse_probe()?);
                    main_started = true;
                }
            }
        }
    }

    /// `config = { key = value; ... }`
    fn parse_config(&mut self) -> PResult<Vec<ConfigItem>> {
        self.bump(); // `config`
        self.expect(&TokenKind::Assign, "=")?;
        self.expect(&TokenKind::LBrace, "{")?;
        let mut items = Vec::new();
        loop {
            if self.eat(&TokenKind::RBrace) {
                return Ok(items);
            }
            if self.eat(&TokenKind::Semi) {
                continue;
            }
            let (key, key_span) = self.expect_ident("expected config key")?;
            self.expect(&TokenKind::Assign, "=")?;
            let tok = self.peek().clone();
            let kind = match tok.kind {
                TokenKind::Str(s) => ExprKind::Str(s),
                TokenKind::Int(v) => ExprKind::Int(v),
                TokenKind::Ident(word) if word == "true" || word == "false" => ExprKind::Bool(word == "true"),
                TokenKind::Ident(word) => ExprKind::Ident(word),
                _ => return Err(self.error_here("expected string, int, boolean, or ident")),
            };
            self.bump();
            let value = Expr { kind, span: tok.span };
            items.push(ConfigItem { key, value, span: key_span.to(tok.span) });
            if !self.eat(&TokenKind::Semi) && !self.at(&TokenKind::RBrace) {
                return Err(self.error_here("expected ';'"));
            }
        }
    }

    /// `let @name = kind(max_entries);`
    fn parse_map_decl(&mut self) -> PResult<MapDecl> {
        let start = self.bump().span; // `let`
        let name = match self.peek_kind().clone() {
            TokenKind::Map(name) => {
                self.bump();
                name
            }
            _ => {
                return Err(self
                    .error_at(start, "root-level let statements need to be map declarations, e.g. let @a = hash(2);"))
            }
        };
        self.expect(&TokenKind::Assign, "=")?;
        let (kind, _) = self.expect_ident("expected map type name")?;
        self.expect(&TokenKind::LParen, "(")?;
        let max_entries = match *self.peek_kind() {
            TokenKind::Int(n) => {
                self.bump();
                n
            }
            _ => return Err(self.error_here("expected positive integer for map declaration max entries")),
        };
        self.expect(&TokenKind::RParen, ")")?;
        let span = self.span_from(start);
        self.eat(&TokenKind::Semi);
        Ok(MapDecl { name, kind, max_entries, span })
    }

    /// `macro name($a, b, @m) { ... }`; the span covers `macro name`.
    fn parse_macro(&mut self) -> PResult<Macro> {
        let start = self.bump().span; // `macro`
        let (name, name_span) = self.expect_ident("expected macro name")?;
        let span = start.to(name_span);
        self.expect(&TokenKind::LParen, "(")?;
        let mut params = Vec::new();
        if !self.at(&TokenKind::RParen) {
            loop {
                let tok = self.peek().clone();
                let kind = match tok.kind {
                    TokenKind::Var(v) => ExprKind::Var(v),
                    TokenKind::Map(m) => ExprKind::Map(m),
                    TokenKind::Ident(i) => {
                        if expr::is_builtin(&i) {
                            self.report(tok.span, format!("builtin '{i}' can't be used as a macro argument"));
                        }
                        ExprKind::Ident(i)
                    }
                    _ => return Err(self.error_here("expected macro argument ($var, @map, or identifier)")),
                };
                self.bump();
                params.push(Expr { kind, span: tok.span });
                if !self.eat(&TokenKind::Comma) {
                    break;
                }
            }
        }
        self.expect(&TokenKind::RParen, ")")?;
        let body = self.parse_block()?;
        Ok(Macro { name, params, body, span })
    }

    /// `ap[, ap...] [/pred/] { ... }`; the span covers the attach points, like bpftrace's.
    fn parse_probe(&mut self) -> PResult<Probe> {
        let mut attach_points: Vec<AttachPoint> = Vec::new();
        loop {
            let lexer = self.raw()?;
            let ok_start = lexer
                .peek_char()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '*' | '$' | '"' | '.' | '-'));
            if !ok_start {
                return Err(self.error_here("expected attach point"));
            }
            let ap = match lexer.scan_attach_point() {
                Ok(ap) => ap,
                Err(d) => {
                    self.diags.push(d);
                    return Err(Fatal);
                }
            };
            self.raw_done();
            attach_points.push(AttachPoint { raw: ap.raw, parts: ap.parts, span: ap.span });
            if !self.eat(&TokenKind::Comma) {
                break;
            }
            // A trailing comma before the predicate or body is allowed.
            if matches!(self.peek_kind(), TokenKind::Slash | TokenKind::LBrace) {
                break;
            }
        }
        let span = attach_points[0].span.to(attach_points[attach_points.len() - 1].span);
        let predicate = if self.eat(&TokenKind::Slash) {
            let pred = self.parse_expression()?;
            if !self.eat(&TokenKind::Slash) {
                return Err(self.error_here("expected '/' to close predicate"));
            }
            Some(pred)
        } else {
            None
        };
        let body = self.parse_block()?;
        Ok(Probe { attach_points, predicate, body, span })
    }
}
