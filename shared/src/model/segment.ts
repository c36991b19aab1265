import { z } from 'zod';
import { attributeNameSchema, authoredConditionSchema, keySchema, nameSchema, tagsSchema } from './common.js';

const segmentBase = {
  key: keySchema,
  name: nameSchema,
  description: z.string().max(2000).optional(),
  /** Optional (segments stored before had none): `xp apply` scopes own segments by tag, as flags. */
  tags: tagsSchema.optional(),
};

/** A saved list of unit ids, matched against one attribute. */
export const idListSegmentSchema = z.strictObject({
  ...segmentBase,
  type: z.literal('ids'),
  attribute: attributeNameSchema.default('id'),
  values: z.array(z.union([z.string().max(512), z.number()])).max(1_000_000),
});

/** A saved condition, reused by rules and experiments. */
export const conditionSegmentSchema = z.strictObject({
  ...segmentBase,
  type: z.literal('condition'),
  condition: authoredConditionSchema,
});

export const segmentSchema = z.discriminatedUnion('type', [idListSegmentSchema, conditionSegmentSchema]);
export type Segment = z.output<typeof segmentSchema>;
export type SegmentInput = z.input<typeof segmentSchema>;
