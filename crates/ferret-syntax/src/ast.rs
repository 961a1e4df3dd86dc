//! The AST: what the parser produces and sema consumes. Names are bpftrace's words.
use crate::span::Span;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// `#include <...>` / `#define` lines and C struct definitions are kept as raw text:
    /// BTF supplies the kernel's types, so they only need to be tolerated.
    pub c_definitions: Vec<CDefinition>,
    /// `config = { key = value; ... }`
    pub config: Vec<ConfigItem>,
    /// `let @m = hash(N);` map declarations.
    pub map_decls: Vec<MapDecl>,
    pub probes: Vec<Probe>,
    /// `macro name(...) { ... }` definitions.
    pub macros: Vec<Macro>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CDefinition {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigItem {
    pub key: String,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapDecl {
    pub name: String,
    /// `hash`, `lruhash`, `percpuhash`, ...
    pub kind: String,
    pub max_entries: u64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Macro {
    pub name: String,
    pub params: Vec<Expr>,
    pub body: Block,
    pub span: Span,
}

/// One action block: `a, b /pred/ { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    /// Covers the attach points only (from the first to the last), as bpftrace's probe
    /// location does, so errors about a probe underline its attach points.
    pub span: Span,
}

/// An attach point as written, e.g. `tracepoint:syscalls:sys_enter_*` or `BEGIN`.
/// `parts` is `raw` split on `:` outside quotes (quotes removed); the probe registry interprets it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachPoint {
    pub raw: String,
    pub parts: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: a call, `@x++`, ...
    Expr(Expr),
    /// `target = value` or `target op= value`; target is a `Var`, `Map` or `MapElem`-like expr.
    /// `let $x` / `let $x: type` declarations set `decl`.
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Option<Expr>,
        decl: Option<VarDecl>,
    },
    If {
        cond: Expr,
        then: Block,
        /// `else { }` or `else if` (a block holding a single If statement).
        otherwise: Option<Block>,
    },
    While {
        cond: Expr,
        body: Block,
    },
    Unroll {
        count: Expr,
        body: Block,
    },
    /// `for ($kv : @map) { }` or `for ($i : a..b) { }`
    For {
        var: String,
        iterable: ForIter,
        body: Block,
    },
    Return(Option<Expr>),
    Break,
    Continue,
    /// A nested `{ ... }` block.
    Block(Block),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarDecl {
    /// Declared type, if any (`let $x: uint8 = ...`).
    pub ty: Option<TypeName>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ForIter {
    Map(Expr),
    Range(Expr, Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// Integer literal (decimal, hex, octal, `1_000`, `1e6`, durations converted to ns).
    Int(u64),
    Str(String),
    Bool(bool),
    /// An identifier that is not a variable, map or call: builtins (`pid`, `comm`, `arg0`,
    /// `args`, `retval`, ...), and bare names sema will reject or resolve (enum values).
    Ident(String),
    /// `$name`
    Var(String),
    /// `$1`, `$2`, ...
    Positional(u32),
    /// `$#`
    PositionalCount,
    /// `@name` (name is "" for `@`), without keys.
    Map(String),
    /// `@name[k1, k2]` — several keys form a tuple key.
    MapElem {
        name: String,
        keys: Vec<Expr>,
    },
    /// `name(args)`; also `name()` forms of builtins.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `c ? a : b`
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `e.field`, `e->field`, and tuple access `e.0` (field = "0").
    Field {
        expr: Box<Expr>,
        field: String,
        arrow: bool,
    },
    /// `e[i]`
    Index {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// `(type)e`
    Cast {
        ty: TypeName,
        expr: Box<Expr>,
    },
    /// `(a, b, ...)` with at least two elements.
    Tuple(Vec<Expr>),
    /// `(a = 1, b = "x")` records.
    Record(Vec<(String, Expr)>),
    /// `sizeof(type)` / `sizeof(expr)`
    Sizeof(SizeofArg),
    /// `offsetof(type, field.sub)`
    Offsetof {
        ty: TypeName,
        fields: Vec<String>,
    },
    /// `typeof(type_or_expr)` where a value is written: only meaningful as a macro argument
    /// that the macro uses as a type (`macro m(t) { sizeof(t) }`).
    Typeof(TypeName),
    /// `{ stmts; expr }` block expression.
    BlockExpr {
        stmts: Vec<Stmt>,
        value: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum SizeofArg {
    Type(TypeName),
    Expr(Box<Expr>),
}

/// A written type: `uint32`, `int8[4]`, `struct task_struct *`, `string`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    /// The base name, including `struct `/`union `/`enum ` prefixes (e.g. "struct task_struct").
    pub base: String,
    /// Number of `*`.
    pub pointers: u32,
    /// `[N]` array suffix.
    pub array: Option<u64>,
    pub span: Span,
    /// `typeof(expr)`: the type is the expression's (base "typeof"), with `pointers`/`array`
    /// applied on top. `typeof(type)` is parsed straight into the named type.
    pub of: Option<Box<Expr>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,    // !
    BitNot, // ~
    Deref,  // *e
    AddrOf, // &e
    PreInc,
    PreDec,
    PostInc,
    PostDec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogAnd,
    LogOr,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            LogAnd => "&&",
            LogOr => "||",
        }
    }
}

impl std::fmt::Display for TypeName {
    /// As written in bpftrace: `uint8`, `struct task_struct *`, `uint8[4]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)?;
        if self.pointers > 0 {
            write!(f, " {}", "*".repeat(self.pointers as usize))?;
        }
        if let Some(n) = self.array {
            write!(f, "[{n}]")?;
        }
        Ok(())
    }
}
