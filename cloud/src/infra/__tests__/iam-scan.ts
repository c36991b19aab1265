/** Finds every IAM policy statement in a set of templates (inline role policies, policies, managed policies). */
import type { Template } from 'aws-cdk-lib/assertions';
import { ACTIONS_WITHOUT_RESOURCE_SCOPE } from '../nag-suppressions.js';

export interface Statement {
  readonly where: string;
  readonly actions: string[];
  readonly resources: unknown[];
  readonly effect: string;
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export function policyStatements(templates: Readonly<Record<string, Template>>): Statement[] {
  const out: Statement[] = [];
  const add = (where: string, doc: unknown): void => {
    for (const s of list((doc as { Statement?: unknown } | undefined)?.Statement)) {
      const st = s as { Action?: unknown; Resource?: unknown; Effect?: string };
      out.push({ where, actions: list(st.Action).map(String), resources: list(st.Resource), effect: st.Effect ?? 'Allow' });
    }
  };
  for (const [stack, template] of Object.entries(templates)) {
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
      for (const [id, r] of Object.entries(template.findResources(type))) {
        add(`${stack}/${id}`, (r as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument);
      }
    }
    for (const [id, r] of Object.entries(template.findResources('AWS::IAM::Role'))) {
      for (const p of list((r as { Properties: { Policies?: unknown } }).Properties.Policies)) {
        add(`${stack}/${id}`, (p as { PolicyDocument: unknown }).PolicyDocument);
      }
    }
  }
  return out;
}

/** Statements granting a wildcard action, or "*" resources for an action that can be scoped. */
export function wildcardViolations(statements: readonly Statement[]): string[] {
  const problems: string[] = [];
  for (const s of statements.filter((x) => x.effect === 'Allow')) {
    for (const action of s.actions.filter((a) => a.includes('*'))) {
      problems.push(`${s.where}: wildcard action ${action}`);
    }
    if (s.resources.includes('*')) {
      for (const action of s.actions.filter((a) => !(a in ACTIONS_WITHOUT_RESOURCE_SCOPE))) {
        problems.push(`${s.where}: ${action} on "*"`);
      }
    }
  }
  return problems;
}
