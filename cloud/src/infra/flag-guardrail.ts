import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { rollbackDescription } from '../functions/alarm-rollback.js';
import type { RollbackLink } from '../functions/alarm-rollback.js';

export interface FlagGuardrailProps extends RollbackLink {
  /** The metric that must stay healthy while the flag is on. */
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  /** Default: greater than the threshold. */
  readonly comparisonOperator?: cloudwatch.ComparisonOperator;
  /** Default 3 periods. */
  readonly evaluationPeriods?: number;
  /** The topic the alarm-rollback function listens on. */
  readonly rollbackTopic: sns.ITopic;
  /** Also notified when the alarm fires (the ops alarm topic), so a rollback is never silent. */
  readonly notifyTopic?: sns.ITopic;
}

/**
 * An alarm linked to a flag: when it fires, the alarm-rollback function switches the flag off in
 * that environment and the audit log names the alarm. The link is a line in the alarm's description,
 * so alarms made outside CDK can be linked the same way.
 */
export class FlagGuardrail extends Construct {
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: FlagGuardrailProps) {
    super(scope, id);
    const link: RollbackLink = { project: props.project, flag: props.flag, environment: props.environment, ...(props.org === undefined ? {} : { org: props.org }) };
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      metric: props.metric,
      threshold: props.threshold,
      comparisonOperator: props.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: props.evaluationPeriods ?? 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Guardrail: switches flag "${props.flag}" off in "${props.environment}" when it fires.\n${rollbackDescription(link)}`,
    });
    this.alarm.addAlarmAction(new actions.SnsAction(props.rollbackTopic));
    if (props.notifyTopic !== undefined) {
      this.alarm.addAlarmAction(new actions.SnsAction(props.notifyTopic));
    }
  }
}
