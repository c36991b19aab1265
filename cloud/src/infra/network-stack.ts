import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';

export interface NetworkStackProps extends StackProps {
  readonly config: XpConfig;
}

/**
 * A VPC of private isolated subnets in two zones, no NAT gateway: the functions reach AWS services
 * through endpoints (gateway endpoints for DynamoDB and S3, free; interface endpoints for Kinesis,
 * Secrets Manager, CloudWatch metrics and Lambda, whose network interfaces are in the subnets of the
 * first `endpointAzs` zones: each is billed per zone-hour). Flow logs go to CloudWatch Logs.
 */
export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
    });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: logRetention(props.config), removalPolicy: RemovalPolicy.DESTROY });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT });
    this.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    // One isolated subnet per zone: the interface endpoints get the first `endpointAzs` of them (a
    // function in the other zone reaches them across zones); Aurora and the functions keep both.
    const subnets = { subnets: this.vpc.isolatedSubnets.slice(0, props.config.endpointAzs) };
    this.vpc.addInterfaceEndpoint('Kinesis', { service: ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS, subnets });
    this.vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, subnets });
    this.vpc.addInterfaceEndpoint('CloudWatchMetrics', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING, subnets });
    // The webhook dispatcher invokes the sender function, which runs outside the VPC to reach receivers.
    this.vpc.addInterfaceEndpoint('Lambda', { service: ec2.InterfaceVpcEndpointAwsService.LAMBDA, subnets });
  }
}
