/**
 * Which declaration a name in a key argument stands for, by the language's scopes: the innermost
 * scope around the use that binds the name decides, so a parameter or a local declaration shadows a
 * constant of the same name further out. One query per file collects every binding site (constants,
 * other variables, parameters, loop and catch variables) and every reassignment; a use then walks up
 * its ancestors only. Imports and function names are not collected: a constant of the same name in
 * the same file is an error in most of the languages read, and rare in the others.
 */
import type { Grammar, SyntaxNode } from './parser.js';
import type { Language } from './types.js';

interface ScopeRules {
  /** Nodes that open a scope for the declarations inside them. */
  readonly scopes: ReadonlySet<string>;
  /** The scopes JavaScript's `var` declarations belong to (a function's, the module's). */
  readonly functions: ReadonlySet<string>;
  /** Scopes a nested function does not see into (Python class bodies). */
  readonly closed: ReadonlySet<string>;
  /**
   * Binding sites by capture name: `bind` (a name or pattern declared in the scope around it, with its
   * `value`), `hoisted` (the same in the function around it), `loop` (a for-in variable: declared or
   * assigned), `spec` (Go names and values paired by position), `declared` (a class or enum, which
   * `owner` and `member` captures give members), `write` (a name assigned after its declaration).
   */
  readonly query: string;
}

const JS_FUNCTIONS = ['program', 'function_declaration', 'function_expression', 'function', 'arrow_function', 'method_definition', 'generator_function', 'generator_function_declaration', 'class_static_block'];
const JS_BINDINGS = `
(lexical_declaration (variable_declarator name: (_) @bind value: (_)? @value))
(variable_declaration (variable_declarator name: (_) @hoisted value: (_)? @value))
(arrow_function parameter: (identifier) @bind)
(catch_clause parameter: (_) @bind)
(for_in_statement left: (_) @loop)
(assignment_expression left: (identifier) @write)
(augmented_assignment_expression left: (identifier) @write)
(update_expression argument: (identifier) @write)
(class_declaration name: (_) @declared)`;
const JS_RULES: Omit<ScopeRules, 'query'> = {
  scopes: new Set([...JS_FUNCTIONS, 'statement_block', 'for_statement', 'for_in_statement', 'catch_clause', 'switch_body']),
  functions: new Set(JS_FUNCTIONS),
  closed: new Set(),
};
const TS_BINDINGS = `${JS_BINDINGS}
(required_parameter pattern: (_) @bind)
(optional_parameter pattern: (_) @bind)
(enum_declaration name: (identifier) @declared)
(enum_declaration name: (identifier) @owner body: (enum_body (enum_assignment name: [(property_identifier) (string)] @member value: (_) @value)))
(class_declaration name: (type_identifier) @owner body: (class_body (public_field_definition name: (property_identifier) @member value: (_) @value)))`;

const GO_SCOPES = ['source_file', 'function_declaration', 'method_declaration', 'func_literal', 'block', 'if_statement', 'for_statement', 'expression_switch_statement', 'type_switch_statement', 'select_statement', 'expression_case', 'default_case', 'type_case', 'communication_case'];
const JAVA_SCOPES = ['program', 'class_body', 'interface_body', 'enum_body', 'block', 'constructor_body', 'method_declaration', 'constructor_declaration', 'lambda_expression', 'for_statement', 'enhanced_for_statement', 'catch_clause', 'try_with_resources_statement', 'switch_block'];
const PYTHON_SCOPES = ['module', 'function_definition', 'lambda', 'class_definition', 'list_comprehension', 'set_comprehension', 'dictionary_comprehension', 'generator_expression'];

const RULES: Readonly<Record<Language, ScopeRules>> = {
  typescript: { ...JS_RULES, query: TS_BINDINGS },
  tsx: { ...JS_RULES, query: TS_BINDINGS },
  javascript: {
    ...JS_RULES,
    query: `${JS_BINDINGS}
(formal_parameters [(identifier) (object_pattern) (array_pattern) (rest_pattern)] @bind)
(formal_parameters (assignment_pattern left: (_) @bind))`,
  },
  python: {
    scopes: new Set(PYTHON_SCOPES),
    functions: new Set(PYTHON_SCOPES),
    closed: new Set(['class_definition']),
    query: `
(assignment left: (_) @bind right: (_) @value)
(augmented_assignment left: (_) @bind)
(for_statement left: (_) @bind)
(for_in_clause left: (_) @bind)
(as_pattern_target (_) @bind)
(named_expression name: (identifier) @bind)
(parameters [(identifier) (list_splat_pattern) (dictionary_splat_pattern)] @bind)
(lambda_parameters [(identifier) (list_splat_pattern) (dictionary_splat_pattern)] @bind)
(default_parameter name: (_) @bind)
(typed_default_parameter name: (_) @bind)
(typed_parameter . (_) @bind)
(class_definition name: (identifier) @declared)
(class_definition name: (identifier) @owner body: (block (expression_statement (assignment left: (identifier) @member right: (_) @value))))`,
  },
  go: {
    scopes: new Set(GO_SCOPES),
    functions: new Set(GO_SCOPES),
    closed: new Set(),
    query: `
[(const_spec) (var_spec) (short_var_declaration)] @spec
(parameter_declaration name: (identifier) @bind)
(variadic_parameter_declaration name: (identifier) @bind)
(range_clause left: (expression_list (identifier) @bind))
(type_switch_statement alias: (expression_list (identifier) @bind))
(assignment_statement left: (expression_list (identifier) @write))
(inc_statement (identifier) @write)
(dec_statement (identifier) @write)`,
  },
  java: {
    scopes: new Set(JAVA_SCOPES),
    functions: new Set(JAVA_SCOPES),
    closed: new Set(),
    query: `
(variable_declarator name: (identifier) @bind value: (_)? @value)
(formal_parameter name: (identifier) @bind)
(catch_formal_parameter name: (identifier) @bind)
(enhanced_for_statement name: (identifier) @bind)
(resource name: (identifier) @bind)
(inferred_parameters (identifier) @bind)
(lambda_expression parameters: (identifier) @bind)
(assignment_expression left: (identifier) @write)
(update_expression (identifier) @write)
(class_declaration name: (identifier) @declared)
(interface_declaration name: (identifier) @declared)
(enum_declaration name: (identifier) @declared)
(class_declaration name: (identifier) @owner body: (class_body (field_declaration declarator: (variable_declarator name: (identifier) @member value: (_) @value))))
(interface_declaration name: (identifier) @owner body: (interface_body (constant_declaration declarator: (variable_declarator name: (identifier) @member value: (_) @value))))
(enum_declaration name: (identifier) @owner body: (enum_body (enum_constant name: (identifier) @member arguments: (argument_list . (_) @value))))`,
  },
};

/** Nodes of a destructuring pattern whose named children (or `left`, `value`, `pattern`) hold the names it declares. */
const PATTERNS = new Set(['object_pattern', 'array_pattern', 'rest_pattern', 'pattern_list', 'tuple_pattern', 'list_pattern', 'list_splat_pattern', 'dictionary_splat_pattern', 'as_pattern_target', 'expression_list']);
const PATTERN_NAMES = new Set(['identifier', 'shorthand_property_identifier_pattern']);

/** The names a declaration's target declares: itself, or those inside a destructuring pattern. */
function namesIn(target: SyntaxNode, out: SyntaxNode[] = []): SyntaxNode[] {
  if (PATTERN_NAMES.has(target.type)) {
    out.push(target);
  } else if (target.type === 'pair_pattern' || target.type === 'assignment_pattern' || target.type === 'object_assignment_pattern') {
    const inner = target.childForFieldName('value') ?? target.childForFieldName('left');
    if (inner !== null) {
      namesIn(inner, out);
    }
  } else if (PATTERNS.has(target.type)) {
    for (const c of target.namedChildren) {
      if (c !== null) {
        namesIn(c, out);
      }
    }
  }
  return out;
}

/** A member's name as written in its declaration, a quoted one (`'x-y': …`) without its quotes. */
export function memberName(key: SyntaxNode): string {
  return key.text.replace(/^["']|["']$/g, '');
}

/** What a name is bound to in one scope. */
export interface Binding {
  /** The scope node's id. */
  readonly scope: number;
  /** The initial value (of a plain name, not a destructured one). */
  readonly value: SyntaxNode | undefined;
  /** Class, enum and interface members with their values, by name. */
  readonly members: Map<string, SyntaxNode>;
  /** Whether the name is assigned again after its declaration. */
  written: boolean;
}

/** Every binding of one parsed file, by name. */
export class Bindings {
  private readonly byName = new Map<string, Binding[]>();

  constructor(
    private readonly grammar: Grammar,
    root: SyntaxNode,
  ) {
    const rules = RULES[grammar.language];
    const owners = new Map<number, Map<string, SyntaxNode>>();
    const writes: SyntaxNode[] = [];
    for (const match of grammar.query(rules.query).matches(root)) {
      const captures = new Map(match.captures.map((c) => [c.name, c.node]));
      const value = captures.get('value');
      const member = captures.get('member');
      const owner = captures.get('owner');
      if (owner !== undefined && member !== undefined && value !== undefined) {
        this.membersOf(owners, owner).set(memberName(member), value);
        continue;
      }
      for (const [kind, node] of captures) {
        switch (kind) {
          case 'bind':
          case 'hoisted':
            this.declare(node, kind === 'hoisted', value);
            break;
          case 'loop':
            this.loopVariable(node, writes);
            break;
          case 'spec':
            this.spec(node);
            break;
          case 'declared':
            this.add(node, this.scopeOf(node.parent?.parent ?? node, rules.scopes), undefined, this.membersOf(owners, node));
            break;
          case 'write':
            writes.push(node);
            break;
        }
      }
    }
    for (const w of writes) {
      const found = this.innermost(w.text, w);
      for (const b of found ?? []) {
        b.written = true;
      }
    }
  }

  /**
   * The declaration `name` stands for at `at`: that of the innermost scope around it binding the
   * name; undefined when no scope binds it, or the scope binds it more than once.
   */
  lookup(name: string, at: SyntaxNode): Binding | undefined {
    const found = this.innermost(name, at);
    return found?.length === 1 ? found[0] : undefined;
  }

  private innermost(name: string, at: SyntaxNode): Binding[] | undefined {
    const all = this.byName.get(name);
    if (all === undefined) {
      return undefined;
    }
    const { scopes, closed } = RULES[this.grammar.language];
    let first = true;
    for (let n: SyntaxNode | null = at; n !== null; n = n.parent) {
      if (!scopes.has(n.type)) {
        continue;
      }
      // A Python class body's names are seen from the class body only, not from its methods.
      if (closed.has(n.type) && !first) {
        continue;
      }
      first = false;
      const id = n.id;
      const here = all.filter((b) => b.scope === id);
      if (here.length > 0) {
        return here;
      }
    }
    return undefined;
  }

  private membersOf(owners: Map<number, Map<string, SyntaxNode>>, name: SyntaxNode): Map<string, SyntaxNode> {
    let members = owners.get(name.id);
    if (members === undefined) {
      members = new Map();
      owners.set(name.id, members);
    }
    return members;
  }

  private scopeOf(node: SyntaxNode, scopes: ReadonlySet<string>): number {
    let n: SyntaxNode | null = node;
    while (n !== null && !scopes.has(n.type)) {
      n = n.parent;
    }
    return n?.id ?? -1;
  }

  private add(name: SyntaxNode, scope: number, value: SyntaxNode | undefined, members = new Map<string, SyntaxNode>()): void {
    const binding: Binding = { scope, value, members, written: false };
    const list = this.byName.get(name.text);
    if (list === undefined) {
      this.byName.set(name.text, [binding]);
    } else {
      list.push(binding);
    }
  }

  /** A declared name or pattern; only a plain name keeps its value. */
  private declare(target: SyntaxNode, hoisted: boolean, value: SyntaxNode | undefined): void {
    const rules = RULES[this.grammar.language];
    const scope = this.scopeOf(target, hoisted ? rules.functions : rules.scopes);
    const names = namesIn(target);
    for (const name of names) {
      this.add(name, scope, name.id === target.id ? value : undefined);
    }
  }

  /** A JavaScript for-in or for-of variable: declared by `const`, `let` or `var`, else assigned. */
  private loopVariable(left: SyntaxNode, writes: SyntaxNode[]): void {
    const kind = left.parent?.childForFieldName('kind')?.type;
    if (kind === undefined) {
      writes.push(...namesIn(left));
    } else {
      this.declare(left, kind === 'var', undefined);
    }
  }

  /** A Go `const`, `var` or `:=`: names and values paired by position. */
  private spec(spec: SyntaxNode): void {
    // (The grammar gives the commas between the names the `name` field too.)
    const names = (spec.childForFieldName('left')?.namedChildren ?? spec.childrenForFieldName('name')).filter((n) => n?.type === 'identifier');
    const values = (spec.childForFieldName('right') ?? spec.childForFieldName('value'))?.namedChildren ?? [];
    const scope = this.scopeOf(spec, RULES.go.scopes);
    names.forEach((name, i) => {
      this.add(name!, scope, values[i] ?? undefined);
    });
  }
}
