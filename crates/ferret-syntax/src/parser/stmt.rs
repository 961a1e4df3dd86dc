//! Blocks and statements: assignments, `let`, `if`/`while`/`unroll`/`for`, jumps.
use super::{PResult, Parser, BLOCK_COST};
use crate::ast::*;
use crate::span::Span;
use crate::token::TokenKind;

/// A parsed `{ ... }`: its statements, and the final expression statement when nothing
/// (no `;`) separated it from the `}` — the value of a block expression.
pub(crate) struct BlockParts {
    pub stmts: Vec<Stmt>,
    pub trailing: Option<Expr>,
    pub span: Span,
}

impl Parser<'_> {
    /// A statement block; a trailing expression becomes its last statement.
    pub(crate) fn parse_block(&mut self) -> PResult<Block> {
        let parts = self.parse_block_parts()?;
        let mut stmts = parts.stmts;
        if let Some(e) = parts.trailing {
            stmts.push(Stmt { span: e.span, kind: StmtKind::Expr(e) });
        }
        Ok(Block { stmts, span: parts.span })
    }

    pub(crate) fn parse_block_parts(&mut self) -> PResult<BlockParts> {
        self.enter(BLOCK_COST)?;
        let r = self.parse_block_parts_inner();
        self.leave(BLOCK_COST);
        r
    }

    fn parse_block_parts_inner(&mut self) -> PResult<BlockParts> {
        let open = self.expect(&TokenKind::LBrace, "{")?.span;
        // Statements inside a block may hold block expressions again.
        let saved = std::mem::replace(&mut self.no_block_expr, false);
        let mut stmts = Vec::new();
        let mut trailing = None;
        loop {
            match self.peek_kind() {
                TokenKind::RBrace => {
                    self.bump();
                    break;
                }
                TokenKind::Eof => return Err(self.error_here("expected '}'")),
                TokenKind::Semi => {
                    // Stray `;` (e.g. after an `if` block) are allowed.
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let (stmt, compound) = self.parse_statement()?;
            if compound || self.eat(&TokenKind::Semi) {
                stmts.push(stmt);
            } else if self.at(&TokenKind::RBrace) {
                match stmt.kind {
                    StmtKind::Expr(e) => trailing = Some(e),
                    _ => stmts.push(stmt),
                }
            } else {
                return Err(self.error_here("expected ';'"));
            }
        }
        self.no_block_expr = saved;
        Ok(BlockParts { stmts, trailing, span: self.span_from(open) })
    }

    /// One statement. The flag tells whether it is compound (ends in a block and needs no `;`).
    fn parse_statement(&mut self) -> PResult<(Stmt, bool)> {
        let start = self.peek().span;
        let word = self.peek().ident().map(str::to_owned);
        match word.as_deref() {
            Some("if") => return Ok((self.parse_if()?, true)),
            Some("while") | Some("unroll") => {
                let is_while = word.as_deref() == Some("while");
                self.bump();
                let cond = self.parse_condition()?;
                let body = self.parse_block()?;
                let kind =
                    if is_while { StmtKind::While { cond, body } } else { StmtKind::Unroll { count: cond, body } };
                return Ok((Stmt { kind, span: self.span_from(start) }, true));
            }
            Some("for") => return Ok((self.parse_for()?, true)),
            Some("return") => {
                self.bump();
                let value = if matches!(self.peek_kind(), TokenKind::Semi | TokenKind::RBrace) {
                    None
                } else {
                    Some(self.parse_expression()?)
                };
                return Ok((Stmt { kind: StmtKind::Return(value), span: self.span_from(start) }, false));
            }
            Some("break") | Some("continue") => {
                self.bump();
                let kind = if word.as_deref() == Some("break") { StmtKind::Break } else { StmtKind::Continue };
                return Ok((Stmt { kind, span: start }, false));
            }
            Some("let") => return Ok((self.parse_let()?, false)),
            Some("import") => return Err(self.error_at(start, "'import' is not supported")),
            Some("_") if self.peek_nth(1) == TokenKind::Assign => {
                // `_ = expr;` evaluates and discards.
                self.bump();
                self.bump();
                let e = self.parse_expression()?;
                return Ok((Stmt { kind: StmtKind::Expr(e), span: self.span_from(start) }, false));
            }
            _ => {}
        }
        if self.at(&TokenKind::LBrace) {
            let block = self.parse_block()?;
            return Ok((Stmt { span: block.span, kind: StmtKind::Block(block) }, true));
        }
        Ok((self.parse_expr_or_assign()?, false))
    }

    /// An expression statement, or an assignment when `=`/`op=` follows the expression.
    fn parse_expr_or_assign(&mut self) -> PResult<Stmt> {
        let start = self.peek().span;
        let target = self.parse_expression()?;
        let op = match self.peek_kind() {
            TokenKind::Assign => None,
            TokenKind::CompoundAssign(op) => Some(*op),
            _ => return Ok(Stmt { span: target.span, kind: StmtKind::Expr(target) }),
        };
        self.bump();
        let value = self.parse_expression()?;
        let span = self.span_from(start);
        match target.kind {
            ExprKind::Var(_) | ExprKind::Map(_) | ExprKind::MapElem { .. } => {}
            ExprKind::Field { .. } => {
                self.report(
                    span,
                    "Tuples and records are immutable once created. Consider creating a new value and assigning it instead.",
                );
            }
            _ => self.report(span, "invalid assignment target"),
        }
        Ok(Stmt { kind: StmtKind::Assign { target, op, value: Some(value), decl: None }, span })
    }

    /// `let $x;`, `let $x = e;`, `let $x: type = e;`
    fn parse_let(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `let`
        let target = match self.peek_kind().clone() {
            TokenKind::Var(name) => {
                let span = self.bump().span;
                Expr { kind: ExprKind::Var(name), span }
            }
            _ => return Err(self.error_here("expected variable after 'let'")),
        };
        let ty = if self.eat(&TokenKind::Colon) { Some(self.parse_type()?) } else { None };
        let value = if self.eat(&TokenKind::Assign) { Some(self.parse_expression()?) } else { None };
        Ok(Stmt {
            kind: StmtKind::Assign { target, op: None, value, decl: Some(VarDecl { ty }) },
            span: self.span_from(start),
        })
    }

    /// `if c { } else if c { } else { }`; parentheses around the condition are optional.
    fn parse_if(&mut self) -> PResult<Stmt> {
        self.enter(1)?;
        let r = self.parse_if_inner();
        self.leave(1);
        r
    }

    fn parse_if_inner(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `if`
        let cond = self.parse_condition()?;
        let then = self.parse_block()?;
        let otherwise = if self.at_ident("else") {
            self.bump();
            if self.at_ident("if") {
                let nested = self.parse_if()?;
                Some(Block { span: nested.span, stmts: vec![nested] })
            } else if self.at(&TokenKind::LBrace) {
                Some(self.parse_block()?)
            } else {
                return Err(self.error_here("expected '{' or 'if' after 'else'"));
            }
        } else {
            None
        };
        Ok(Stmt { kind: StmtKind::If { cond, then, otherwise }, span: self.span_from(start) })
    }

    /// The condition of `if`/`while`/`unroll`: any expression, where `{` starts the body.
    pub(crate) fn parse_condition(&mut self) -> PResult<Expr> {
        let saved = std::mem::replace(&mut self.no_block_expr, true);
        let r = self.parse_expression();
        self.no_block_expr = saved;
        r
    }

    /// `for ($kv : @map) { }` and `for ($i : a..b) { }`, parentheses optional. Range ends are
    /// unary expressions, as in bpftrace: `0..$n` but `0..($n + 1)`.
    fn parse_for(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `for`
        let paren = self.eat(&TokenKind::LParen);
        let var = match self.peek_kind().clone() {
            TokenKind::Var(name) => {
                self.bump();
                name
            }
            _ => return Err(self.error_here("expected variable in for loop")),
        };
        self.expect(&TokenKind::Colon, ":")?;
        let saved = std::mem::replace(&mut self.no_block_expr, true);
        let r = self.parse_for_iterable(paren);
        self.no_block_expr = saved;
        let iterable = r?;
        if paren {
            self.expect(&TokenKind::RParen, ")")?;
        }
        let body = self.parse_block()?;
        Ok(Stmt { kind: StmtKind::For { var, iterable, body }, span: self.span_from(start) })
    }

    fn parse_for_iterable(&mut self, paren: bool) -> PResult<ForIter> {
        let first = self.parse_unary()?;
        if self.eat(&TokenKind::DotDot) {
            let end = self.parse_unary()?;
            return Ok(ForIter::Range(first, end));
        }
        match first.kind {
            ExprKind::Map(_) => Ok(ForIter::Map(first)),
            // `for ($i : 1+1..10)`: the range ends must be unary, so the `+` is what is wrong.
            _ if paren && !self.at(&TokenKind::RParen) => Err(self.error_here("expected ')'")),
            _ => Err(self.error_at(first.span, "expected map or range in for loop")),
        }
    }
}
