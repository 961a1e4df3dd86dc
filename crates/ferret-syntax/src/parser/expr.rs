//! Expressions: ternary, precedence climbing over C's binary operators, unary and postfix
//! operators, and primaries (literals, variables, maps, calls, parenthesised forms,
//! `sizeof`/`offsetof`, block and `if` expressions).
use super::types::{scan_type, TypeScan};
use super::{PResult, Parser, TokenSource};
use crate::ast::*;
use crate::span::Span;
use crate::token::TokenKind;

/// bpftrace's builtin variables that cannot be macro parameters (its newer builtins such
/// as `comm` are stdlib macros and so are ordinary names there).
pub(crate) fn is_builtin(name: &str) -> bool {
    const BUILTINS: &[&str] = &["args", "ctx", "kstack", "nsecs", "pid", "tid", "ustack"];
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    BUILTINS.contains(&name) || name.starts_with("__builtin_") || numbered("arg") || numbered("sarg")
}

/// Names that read as values, never as type names or record field names: `(pid)` is a
/// grouping, `(retval) * 2` a product, `(pid = 1)` not a record. Includes the builtins
/// older bpftrace had as keywords.
pub(crate) fn is_value_name(name: &str) -> bool {
    const OLD_BUILTINS: &[&str] = &[
        "comm", "cpid", "cpu", "cgroup", "curtask", "elapsed", "func", "gid", "uid", "username", "probe", "rand",
        "retval", "numaid", "jiffies", "usermode", "ncpus",
    ];
    is_builtin(name) || OLD_BUILTINS.contains(&name)
}

/// Binary operator of a token and its precedence (higher binds tighter).
fn binop(kind: &TokenKind) -> Option<(BinOp, u8)> {
    use TokenKind::*;
    Some(match kind {
        OrOr => (BinOp::LogOr, 1),
        AndAnd => (BinOp::LogAnd, 2),
        Pipe => (BinOp::BitOr, 3),
        Caret => (BinOp::BitXor, 4),
        Amp => (BinOp::BitAnd, 5),
        Eq => (BinOp::Eq, 6),
        Ne => (BinOp::Ne, 6),
        Lt => (BinOp::Lt, 7),
        Le => (BinOp::Le, 7),
        Gt => (BinOp::Gt, 7),
        Ge => (BinOp::Ge, 7),
        Shl => (BinOp::Shl, 8),
        Shr => (BinOp::Shr, 8),
        Plus => (BinOp::Add, 9),
        Minus => (BinOp::Sub, 9),
        Star => (BinOp::Mul, 10),
        Slash => (BinOp::Div, 10),
        Percent => (BinOp::Mod, 10),
        _ => return None,
    })
}

fn is_lvalue(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Var(_) | ExprKind::Map(_) | ExprKind::MapElem { .. })
}

impl Parser<'_> {
    pub(crate) fn parse_expression(&mut self) -> PResult<Expr> {
        self.enter(1)?;
        let r = self.parse_ternary();
        self.leave(1);
        r
    }

    /// `c ? a : b` (right associative) and the short form `c ?: b`, which bpftrace treats
    /// as `c ? c : b`.
    fn parse_ternary(&mut self) -> PResult<Expr> {
        let cond = self.parse_binary(1)?;
        if !self.eat(&TokenKind::Question) {
            return Ok(cond);
        }
        let then = if self.eat(&TokenKind::Colon) {
            cond.clone()
        } else {
            let then = self.parse_expression()?;
            self.expect(&TokenKind::Colon, ":")?;
            then
        };
        let otherwise = self.parse_expression()?;
        let span = cond.span.to(otherwise.span);
        Ok(Expr {
            kind: ExprKind::Ternary { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) },
            span,
        })
    }

    /// Precedence climbing: all binary operators are left associative.
    fn parse_binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut links = 0;
        let r = self.parse_binary_chain(min_prec, &mut links);
        self.unchain(links);
        r
    }

    fn parse_binary_chain(&mut self, min_prec: u8, links: &mut u32) -> PResult<Expr> {
        let mut lhs = self.parse_unary()?;
        while let Some((op, prec)) = binop(self.peek_kind()) {
            if prec < min_prec {
                break;
            }
            // `/` right before `{` closes a predicate (`/pid == 1/ {`): never a division.
            if op == BinOp::Div && self.peek_nth(1) == TokenKind::LBrace {
                break;
            }
            self.bump();
            self.chain_link()?;
            *links += 1;
            self.enter(1)?;
            let rhs = self.parse_binary(prec + 1);
            self.leave(1);
            let rhs = rhs?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
        }
        Ok(lhs)
    }

    /// Prefix operators, then a postfix expression. Casts are primaries (see `parse_paren`).
    pub(crate) fn parse_unary(&mut self) -> PResult<Expr> {
        self.enter(1)?;
        let r = self.parse_unary_inner();
        self.leave(1);
        r
    }

    fn parse_unary_inner(&mut self) -> PResult<Expr> {
        let op = match self.peek_kind() {
            TokenKind::PlusPlus => UnOp::PreInc,
            TokenKind::MinusMinus => UnOp::PreDec,
            TokenKind::Amp => UnOp::AddrOf,
            TokenKind::Star => UnOp::Deref,
            TokenKind::Minus => UnOp::Neg,
            TokenKind::Bang => UnOp::Not,
            TokenKind::Tilde => UnOp::BitNot,
            _ => {
                let primary = self.parse_primary()?;
                return self.parse_postfix(primary);
            }
        };
        let start = self.bump().span;
        let operand = self.parse_unary()?;
        match op {
            UnOp::PreInc | UnOp::PreDec if !is_lvalue(&operand) => {
                self.report(operand.span, "increment/decrement requires a variable or map");
            }
            UnOp::AddrOf if !matches!(operand.kind, ExprKind::Var(_) | ExprKind::Map(_)) => {
                self.report(operand.span, "address-of operator (&) can only be used on a map or variable");
            }
            _ => {}
        }
        let span = start.to(operand.span);
        Ok(Expr { kind: ExprKind::Unary { op, expr: Box::new(operand) }, span })
    }

    /// `.field`, `.0`, `->field`, `[index]`, `++`, `--`.
    fn parse_postfix(&mut self, e: Expr) -> PResult<Expr> {
        let mut links = 0;
        let r = self.parse_postfix_chain(e, &mut links);
        self.unchain(links);
        r
    }

    fn parse_postfix_chain(&mut self, mut e: Expr, links: &mut u32) -> PResult<Expr> {
        loop {
            if matches!(
                self.peek_kind(),
                TokenKind::Dot | TokenKind::Arrow | TokenKind::LBracket | TokenKind::PlusPlus | TokenKind::MinusMinus
            ) {
                self.chain_link()?;
                *links += 1;
            }
            match self.peek_kind().clone() {
                TokenKind::Dot | TokenKind::Arrow => {
                    let arrow = self.bump().kind == TokenKind::Arrow;
                    let field = match self.peek_kind().clone() {
                        TokenKind::Ident(name) => name,
                        TokenKind::Int(n) if !arrow => n.to_string(),
                        _ => {
                            let op = if arrow { "->" } else { "." };
                            return Err(self.error_here(format!("expected field name after '{op}'")));
                        }
                    };
                    self.bump();
                    let span = self.span_from(e.span);
                    e = Expr { kind: ExprKind::Field { expr: Box::new(e), field, arrow }, span };
                }
                TokenKind::LBracket => {
                    self.bump();
                    let index = self.with_blocks_allowed(|p| p.parse_expression())?;
                    self.expect(&TokenKind::RBracket, "]")?;
                    let span = self.span_from(e.span);
                    e = Expr { kind: ExprKind::Index { expr: Box::new(e), index: Box::new(index) }, span };
                }
                TokenKind::PlusPlus | TokenKind::MinusMinus => {
                    let tok = self.bump();
                    if !is_lvalue(&e) {
                        self.report(tok.span, "increment/decrement requires a variable or map");
                        continue;
                    }
                    let op = if tok.kind == TokenKind::PlusPlus { UnOp::PostInc } else { UnOp::PostDec };
                    let span = self.span_from(e.span);
                    e = Expr { kind: ExprKind::Unary { op, expr: Box::new(e) }, span };
                }
                _ => return Ok(e),
            }
        }
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let tok = self.peek().clone();
        let kind = match tok.kind {
            TokenKind::Int(v) => ExprKind::Int(v),
            TokenKind::Str(s) => ExprKind::Str(s),
            TokenKind::Var(v) => ExprKind::Var(v),
            TokenKind::Positional(n) => ExprKind::Positional(n),
            TokenKind::PositionalCount => ExprKind::PositionalCount,
            TokenKind::Map(name) => {
                self.bump();
                return self.parse_map_keys(name, tok.span);
            }
            TokenKind::LParen => return self.parse_paren(),
            TokenKind::LBrace if !self.no_block_expr => return self.parse_block_expr(),
            TokenKind::Ident(word) => return self.parse_word(word, tok.span),
            _ => return Err(self.error_here("expected expression")),
        };
        self.bump();
        Ok(Expr { kind, span: tok.span })
    }

    /// `@name` followed by optional `[k1, k2, ...]`.
    fn parse_map_keys(&mut self, name: String, start: Span) -> PResult<Expr> {
        if !self.eat(&TokenKind::LBracket) {
            return Ok(Expr { kind: ExprKind::Map(name), span: start });
        }
        let keys = self.with_blocks_allowed(|p| {
            let mut keys = vec![p.parse_expression()?];
            while p.eat(&TokenKind::Comma) {
                keys.push(p.parse_expression()?);
            }
            Ok(keys)
        })?;
        self.expect(&TokenKind::RBracket, "]")?;
        Ok(Expr { kind: ExprKind::MapElem { name, keys }, span: self.span_from(start) })
    }

    /// Primaries starting with an identifier: literals, keywords, calls, bare identifiers.
    fn parse_word(&mut self, word: String, start: Span) -> PResult<Expr> {
        match word.as_str() {
            "true" | "false" => {
                self.bump();
                return Ok(Expr { kind: ExprKind::Bool(word == "true"), span: start });
            }
            "if" => return self.parse_if_expr(),
            "sizeof" => return self.parse_sizeof(),
            "typeof" if self.peek_nth(1) == TokenKind::LParen => {
                let ty = self.parse_typeof_type()?;
                return Ok(Expr { kind: ExprKind::Typeof(ty), span: self.span_from(start) });
            }
            "offsetof" => return self.parse_offsetof(),
            _ => {}
        }
        self.bump();
        if !self.eat(&TokenKind::LParen) {
            return Ok(Expr { kind: ExprKind::Ident(word), span: start });
        }
        let args = self.with_blocks_allowed(|p| {
            let mut args = Vec::new();
            if !p.at(&TokenKind::RParen) {
                loop {
                    args.push(p.parse_expression()?);
                    if !p.eat(&TokenKind::Comma) {
                        break;
                    }
                }
            }
            Ok(args)
        })?;
        self.expect(&TokenKind::RParen, ")")?;
        Ok(Expr { kind: ExprKind::Call { name: word, args }, span: self.span_from(start) })
    }

    /// `( ... )`: empty tuple, record, cast, tuple, or grouping, told apart by lookahead.
    fn parse_paren(&mut self) -> PResult<Expr> {
        let open = self.bump().span;
        if self.eat(&TokenKind::RParen) {
            return Ok(Expr { kind: ExprKind::Tuple(vec![]), span: self.span_from(open) });
        }
        let record = matches!(self.peek_kind(), TokenKind::Ident(name) if !is_value_name(name))
            && self.peek_nth(1) == TokenKind::Assign;
        if record {
            return self.with_blocks_allowed(|p| p.parse_record(open));
        }
        if self.looks_like_cast() {
            let ty = self.parse_type()?;
            self.expect(&TokenKind::RParen, ")")?;
            let operand = self.parse_unary()?;
            let span = open.to(operand.span);
            return Ok(Expr { kind: ExprKind::Cast { ty, expr: Box::new(operand) }, span });
        }
        self.with_blocks_allowed(|p| p.parse_tuple_or_group(open))
    }

    /// Whether the tokens after `(` are `TYPE )` followed by an operand. Known type names
    /// (`uint8`, `struct x`, `unsigned int`) and names with `*` or `[N]` are types; a bare
    /// unknown name (`(u32_t)x`, a typedef) is one only if an operand follows that cannot
    /// also continue a binary expression, so `(X) - 1` stays a subtraction.
    fn looks_like_cast(&mut self) -> bool {
        let mut look = self.look();
        let Ok(TypeScan { known, suffixed, .. }) = scan_type(&mut look) else { return false };
        if look.bump().kind != TokenKind::RParen {
            return false;
        }
        let next = look.peek().kind.clone();
        if known || suffixed {
            next.starts_operand()
        } else {
            next.starts_operand()
                && !matches!(
                    next,
                    TokenKind::Minus | TokenKind::Star | TokenKind::Amp | TokenKind::PlusPlus | TokenKind::MinusMinus
                )
        }
    }

    /// `(name = e, ...)` after the `(`.
    fn parse_record(&mut self, open: Span) -> PResult<Expr> {
        let mut fields: Vec<(String, Expr)> = Vec::new();
        loop {
            let (name, name_span) = self.expect_ident("expected identifier")?;
            self.expect(&TokenKind::Assign, "=")?;
            let value = self.parse_expression()?;
            if fields.iter().any(|(n, _)| *n == name) {
                let span = self.span_from(name_span);
                self.report(span, format!("Named argument list already contains name: {name}"));
            }
            fields.push((name, value));
            if !self.eat(&TokenKind::Comma) {
                break;
            }
        }
        self.expect(&TokenKind::RParen, ")")?;
        Ok(Expr { kind: ExprKind::Record(fields), span: self.span_from(open) })
    }

    /// `(e)` is `e` itself, its span widened over the parentheses so that the spans of
    /// enclosing expressions stay contiguous; `(a, b)`, `(a,)` are tuples.
    fn parse_tuple_or_group(&mut self, open: Span) -> PResult<Expr> {
        let mut first = self.parse_expression()?;
        if !self.eat(&TokenKind::Comma) {
            self.expect(&TokenKind::RParen, ")")?;
            first.span = self.span_from(open);
            return Ok(first);
        }
        let mut elems = vec![first];
        while !self.at(&TokenKind::RParen) {
            elems.push(self.parse_expression()?);
            if !self.eat(&TokenKind::Comma) {
                break;
            }
        }
        self.expect(&TokenKind::RParen, ")")?;
        Ok(Expr { kind: ExprKind::Tuple(elems), span: self.span_from(open) })
    }

    /// `{ stmts; value }` where an expression is expected. A final `if`/`else` statement
    /// whose branches end in expressions is the value too: `{ if c { 1 } else { 2 } }`.
    fn parse_block_expr(&mut self) -> PResult<Expr> {
        let mut parts = self.parse_block_parts()?;
        let value = match parts.trailing {
            Some(value) => value,
            None => match parts.stmts.pop().and_then(if_stmt_value) {
                Some(value) => value,
                None => {
                    let close = Span { start: parts.span.end.saturating_sub(1), end: parts.span.end };
                    return Err(self.error_at(close, "expected expression: a block expression ends with its value"));
                }
            },
        };
        Ok(Expr { kind: ExprKind::BlockExpr { stmts: parts.stmts, value: Box::new(value) }, span: parts.span })
    }

    /// A branch of an `if` expression: a block expression, or just its value when the block
    /// holds nothing else.
    fn parse_branch(&mut self) -> PResult<Expr> {
        let e = self.with_blocks_allowed(|p| {
            if !p.at(&TokenKind::LBrace) {
                return Err(p.error_here("expected '{'"));
            }
            p.parse_block_expr()
        })?;
        Ok(match e.kind {
            ExprKind::BlockExpr { stmts, value } if stmts.is_empty() => *value,
            kind => Expr { kind, span: e.span },
        })
    }

    /// `if c { a } else { b }` used as a value becomes `c ? a : b`; `else` is required.
    fn parse_if_expr(&mut self) -> PResult<Expr> {
        self.enter(1)?;
        let r = self.parse_if_expr_inner();
        self.leave(1);
        r
    }

    fn parse_if_expr_inner(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // `if`
        let cond = self.parse_condition()?;
        let then = self.parse_branch()?;
        if !self.at_ident("else") {
            return Err(self.error_here("expected 'else': an if expression needs both branches"));
        }
        self.bump();
        let otherwise = if self.at_ident("if") { self.parse_if_expr()? } else { self.parse_branch()? };
        Ok(Expr {
            kind: ExprKind::Ternary { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) },
            span: self.span_from(start),
        })
    }

    /// `sizeof(type)` or `sizeof(expr)`; a bare unknown name is left an expression
    /// (`Ident`) for sema to resolve, like bpftrace.
    fn parse_sizeof(&mut self) -> PResult<Expr> {
        let start = self.bump().span;
        self.expect(&TokenKind::LParen, "(")?;
        let mut look = self.look();
        let is_type = matches!(scan_type(&mut look), Ok(TypeScan { known, suffixed, .. }) if known || suffixed)
            && look.peek().kind == TokenKind::RParen;
        let arg = if is_type {
            SizeofArg::Type(self.parse_type()?)
        } else {
            SizeofArg::Expr(Box::new(self.with_blocks_allowed(|p| p.parse_expression())?))
        };
        self.expect(&TokenKind::RParen, ")")?;
        Ok(Expr { kind: ExprKind::Sizeof(arg), span: self.span_from(start) })
    }

    /// `offsetof(type, field.sub)`.
    fn parse_offsetof(&mut self) -> PResult<Expr> {
        let start = self.bump().span;
        self.expect(&TokenKind::LParen, "(")?;
        let ty = self.parse_type()?;
        self.expect(&TokenKind::Comma, ",")?;
        let mut fields = vec![self.expect_ident("expected identifier")?.0];
        while self.eat(&TokenKind::Dot) {
            fields.push(self.expect_ident("expected identifier")?.0);
        }
        self.expect(&TokenKind::RParen, ")")?;
        Ok(Expr { kind: ExprKind::Offsetof { ty, fields }, span: self.span_from(start) })
    }
}

/// An `if`/`else` statement used as a block's value, as the ternary it means; `None` if it
/// is not an `if`, has no `else`, or a branch does not end in an expression.
fn if_stmt_value(stmt: Stmt) -> Option<Expr> {
    fn branch_value(mut block: Block) -> Option<Expr> {
        match block.stmts.pop()? {
            Stmt { kind: StmtKind::Expr(value), .. } if block.stmts.is_empty() => Some(value),
            Stmt { kind: StmtKind::Expr(value), .. } => Some(Expr {
                kind: ExprKind::BlockExpr { stmts: block.stmts, value: Box::new(value) },
                span: block.span,
            }),
            last @ Stmt { kind: StmtKind::If { .. }, .. } if block.stmts.is_empty() => if_stmt_value(last),
            _ => None,
        }
    }
    let StmtKind::If { cond, then, otherwise: Some(otherwise) } = stmt.kind else { return None };
    Some(Expr {
        kind: ExprKind::Ternary {
            cond: Box::new(cond),
            then: Box::new(branch_value(then)?),
            otherwise: Box::new(branch_value(otherwise)?),
        },
        span: stmt.span,
    })
}
