/** Conditions of routing, maintenance_mode and logging: request properties compared with values. */
import type { ConditionConfig } from '../../config/policies.js';
import type { PolicyContext } from './context.js';

export type Condition = (ctx: PolicyContext) => boolean;

type Operation = ConditionConfig['operations'][number];

function propertyOf(op: Operation): (ctx: PolicyContext) => string | undefined {
  switch (op.match) {
    case 'path':
      return (ctx) => ctx.path;
    case 'method':
      return (ctx) => ctx.method;
    case 'header': {
      const name = op.header_name!.toLowerCase();
      return (ctx) => ctx.header(name);
    }
    case 'query_arg': {
      const name = op.query_arg_name!;
      return (ctx) => ctx.params.get(name) ?? undefined;
    }
  }
}

/** A missing property equals nothing (`==` false, `!=` true) and matches no pattern. */
function compileOperation(op: Operation): Condition {
  const get = propertyOf(op);
  const value = op.value;
  switch (op.op) {
    case '==':
      return (ctx) => get(ctx) === value;
    case '!=':
      return (ctx) => get(ctx) !== value;
    case 'matches': {
      const re = new RegExp(value);
      return (ctx) => {
        const v = get(ctx);
        return v !== undefined && re.test(v);
      };
    }
  }
}

const ALWAYS: Condition = () => true;

/** Compiles a condition; no operations: always true. */
export function compileCondition(c: ConditionConfig): Condition {
  const ops = c.operations.map(compileOperation);
  if (ops.length === 0) return ALWAYS;
  if (ops.length === 1) return ops[0]!;
  return c.combine_op === 'and'
    ? (ctx) => {
        for (let i = 0; i < ops.length; i++) if (!ops[i]!(ctx)) return false;
        return true;
      }
    : (ctx) => {
        for (let i = 0; i < ops.length; i++) if (ops[i]!(ctx)) return true;
        return false;
      };
}
