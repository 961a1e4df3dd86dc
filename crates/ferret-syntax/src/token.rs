//! Tokens of the expression/statement language, as produced by `lexer::Lexer::next_token`.
//!
//! Attach points, `#` lines and C definitions are not tokens: the lexer scans those as raw
//! text in dedicated modes, because their character sets overlap with the expression language
//! (`interval:1s`, `uprobe:/bin/bash:readline`).
use crate::ast::BinOp;
use crate::diag::Diagnostic;
use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// Identifiers and keywords alike: keywords are contextual, the parser checks the text.
    Ident(String),
    /// Integer literal, already converted (durations to ns, `1e6`, hex, octal).
    Int(u64),
    /// String literal with escapes resolved.
    Str(String),
    /// `$name` (name without the sigil).
    Var(String),
    /// `$N`.
    Positional(u32),
    /// `$#`.
    PositionalCount,
    /// `@name` or bare `@` (name "" then), without the sigil.
    Map(String),

    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Colon,
    Question,
    Dot,
    DotDot,
    Arrow,

    Assign,
    /// `+=`, `<<=`, ...: the operator applied.
    CompoundAssign(BinOp),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Bang,
    Tilde,
    AndAnd,
    OrOr,
    PlusPlus,
    MinusMinus,

    /// A character the language has no use for; the lexer already reported it.
    Error,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// Problems found while lexing this token (bad escapes, bad integer suffixes, ...).
    /// They travel with the token so that lookahead, which lexes and throws tokens away,
    /// never reports anything twice: only consuming a token reports its diagnostics.
    pub diags: Vec<Diagnostic>,
}

impl Token {
    pub fn is_ident(&self, word: &str) -> bool {
        matches!(&self.kind, TokenKind::Ident(s) if s == word)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Ident(s) => Some(s),
            _ => None,
        }
    }
}

impl TokenKind {
    /// Whether a token can begin an operand; used to decide if `(name)` is a cast.
    pub fn starts_operand(&self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Ident(_)
                | Int(_)
                | Str(_)
                | Var(_)
                | Positional(_)
                | PositionalCount
                | Map(_)
                | LParen
                | Minus
                | Bang
                | Tilde
                | Star
                | Amp
                | PlusPlus
                | MinusMinus
        )
    }
}
