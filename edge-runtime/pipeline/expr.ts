import type { Reading } from '../engine/types.ts';
import { fieldReader } from '../engine/key.ts';

/**
 * A small, serialisable expression tree: what pipeline files, the TypeScript
 * builder and (later) a SQL front end all compile to. Evaluated by closures
 * built once per pipeline, never by interpreting the tree per reading.
 */
export type Literal = number | string | boolean | null;

export type Expr =
  | { readonly field: string }
  | { readonly lit: Literal }
  | { readonly op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'; readonly args: readonly [Expr, Expr] }
  | { readonly op: 'add' | 'sub' | 'mul' | 'div'; readonly args: readonly [Expr, Expr] }
  | { readonly op: 'and' | 'or'; readonly args: readonly Expr[] }
  | { readonly op: 'not'; readonly arg: Expr }
  | { readonly op: 'in'; readonly arg: Expr; readonly values: readonly Literal[] }
  | { readonly op: 'matches'; readonly arg: Expr; readonly pattern: string };

export type Evaluator = (r: Reading) => unknown;

export function compileExpr(e: Expr): Evaluator {
  if ('field' in e) {
    // A missing tag reads as null, so `eq null` / `ne null` / `in [null]` test for its absence.
    const read = fieldReader(e.field);
    return /^(deviceId|metric|value|eventTime|arrivalTime)$/.test(e.field) ? read : (r) => read(r) ?? null;
  }
  if ('lit' in e) {
    const v = e.lit;
    return () => v;
  }
  switch (e.op) {
    case 'eq': case 'ne': case 'lt': case 'le': case 'gt': case 'ge': {
      const a = compileExpr(e.args[0]);
      const b = compileExpr(e.args[1]);
      switch (e.op) {
        case 'eq': return (r) => a(r) === b(r);
        case 'ne': return (r) => a(r) !== b(r);
        case 'lt': return (r) => cmp(a(r), b(r), (x, y) => x < y);
        case 'le': return (r) => cmp(a(r), b(r), (x, y) => x <= y);
        case 'gt': return (r) => cmp(a(r), b(r), (x, y) => x > y);
        case 'ge': return (r) => cmp(a(r), b(r), (x, y) => x >= y);
      }
      break;
    }
    case 'add': case 'sub': case 'mul': case 'div': {
      const a = compileExpr(e.args[0]);
      const b = compileExpr(e.args[1]);
      const f = e.op === 'add' ? (x: number, y: number) => x + y
        : e.op === 'sub' ? (x: number, y: number) => x - y
        : e.op === 'mul' ? (x: number, y: number) => x * y
        : (x: number, y: number) => x / y;
      return (r) => {
        const x = a(r);
        const y = b(r);
        return typeof x === 'number' && typeof y === 'number' ? f(x, y) : null;
      };
    }
    case 'and': {
      const parts = e.args.map(compileExpr);
      return (r) => parts.every((p) => p(r) === true);
    }
    case 'or': {
      const parts = e.args.map(compileExpr);
      return (r) => parts.some((p) => p(r) === true);
    }
    case 'not': {
      const a = compileExpr(e.arg);
      return (r) => a(r) !== true;
    }
    case 'in': {
      const a = compileExpr(e.arg);
      const set = new Set<unknown>(e.values);
      return (r) => set.has(a(r));
    }
    case 'matches': {
      const a = compileExpr(e.arg);
      const re = new RegExp(e.pattern);
      return (r) => {
        const v = a(r);
        return typeof v === 'string' && re.test(v);
      };
    }
  }
  throw new TypeError(`unknown expression ${JSON.stringify(e)}`);
}

/** Ordered comparison of two numbers or two strings; anything else is false. */
function cmp(x: unknown, y: unknown, f: (a: number | string, b: number | string) => boolean): boolean {
  if (typeof x === 'number' && typeof y === 'number') return f(x, y);
  if (typeof x === 'string' && typeof y === 'string') return f(x, y);
  return false;
}

// Builders for programmatic use: field('value').gt(3) reads better than object literals.
export interface ExprBuilder {
  readonly expr: Expr;
  eq(v: Literal | ExprBuilder): ExprBuilder;
  ne(v: Literal | ExprBuilder): ExprBuilder;
  lt(v: Literal | ExprBuilder): ExprBuilder;
  le(v: Literal | ExprBuilder): ExprBuilder;
  gt(v: Literal | ExprBuilder): ExprBuilder;
  ge(v: Literal | ExprBuilder): ExprBuilder;
  add(v: number | ExprBuilder): ExprBuilder;
  sub(v: number | ExprBuilder): ExprBuilder;
  mul(v: number | ExprBuilder): ExprBuilder;
  div(v: number | ExprBuilder): ExprBuilder;
  in(values: readonly Literal[]): ExprBuilder;
  matches(pattern: string): ExprBuilder;
  and(...others: ExprBuilder[]): ExprBuilder;
  or(...others: ExprBuilder[]): ExprBuilder;
  not(): ExprBuilder;
}

function wrap(expr: Expr): ExprBuilder {
  const lift = (v: Literal | ExprBuilder): Expr => (typeof v === 'object' && v !== null ? v.expr : { lit: v });
  const bin = (op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'add' | 'sub' | 'mul' | 'div') =>
    (v: Literal | ExprBuilder) => wrap({ op, args: [expr, lift(v)] } as Expr);
  return {
    expr,
    eq: bin('eq'), ne: bin('ne'), lt: bin('lt'), le: bin('le'), gt: bin('gt'), ge: bin('ge'),
    add: bin('add'), sub: bin('sub'), mul: bin('mul'), div: bin('div'),
    in: (values) => wrap({ op: 'in', arg: expr, values }),
    matches: (pattern) => wrap({ op: 'matches', arg: expr, pattern }),
    and: (...o) => wrap({ op: 'and', args: [expr, ...o.map((x) => x.expr)] }),
    or: (...o) => wrap({ op: 'or', args: [expr, ...o.map((x) => x.expr)] }),
    not: () => wrap({ op: 'not', arg: expr }),
  };
}

export const field = (name: string): ExprBuilder => wrap({ field: name });
export const lit = (v: Literal): ExprBuilder => wrap({ lit: v });
