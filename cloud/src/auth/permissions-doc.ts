import type { Role } from '@xp/shared';
import { PERMISSION_DESCRIPTIONS, PERMISSION_MATRIX, Permission, ROLES } from './permissions.js';

const title = (role: Role): string => role.charAt(0).toUpperCase() + role.slice(1);

/** The permission matrix as a markdown table (a row per permission, a column per role), for docs/api.md. */
export function permissionTableMarkdown(): string {
  const header = ['Permission', 'Description', ...ROLES.map(title)];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i < 2 ? '---' : ':---:')).join(' | ')} |`];
  for (const permission of Object.values(Permission)) {
    const cells = ROLES.map((role) => (PERMISSION_MATRIX[permission].includes(role) ? '✓' : '–'));
    lines.push(`| \`${permission}\` | ${PERMISSION_DESCRIPTIONS[permission]} | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
