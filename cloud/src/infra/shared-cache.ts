import { Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';
import { EnvVar } from '../functions/runtime.js';
import type { XpConfig } from './config.js';
import type { XpFunction } from './xp-function.js';

export const SHARED_CACHE_PORT = 6379;

export interface SharedCacheProps {
  readonly stage: string;
  readonly vpc: ec2.IVpc;
  readonly options: NonNullable<XpConfig['sharedCache']>;
}

/**
 * ElastiCache Serverless (Valkey or Redis OSS) in the private subnets: encrypted in transit (TLS is
 * always on for serverless caches) and at rest, reachable only from the functions bound to it
 * (its security group has no rule until `bindSharedCache` adds one per function).
 */
export class SharedCache extends Construct {
  readonly cache: elasticache.CfnServerlessCache;
  readonly securityGroup: ec2.SecurityGroup;
  /** rediss://<endpoint>:<port>, for REDIS_URL. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: SharedCacheProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, description: `xp ${props.stage} shared cache: functions only`, allowAllOutbound: false });
    this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: `xp-${props.stage}`,
      engine: props.options.engine,
      description: `xp ${props.stage}: shared rate limits and sticky bucketing`,
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      cacheUsageLimits: {
        dataStorage: { maximum: props.options.maxDataStorageGb, unit: 'GB' },
        ecpuPerSecond: { maximum: props.options.maxEcpuPerSecond },
      },
    });
    this.url = Fn.join('', ['rediss://', this.cache.attrEndpointAddress, ':', this.cache.attrEndpointPort]);
  }
}

/** Lets one function reach the cache (an ingress rule in the function's stack) and sets its REDIS_URL. */
export function bindSharedCache(fn: XpFunction, cache: SharedCache): void {
  if (fn.securityGroup === undefined) {
    throw new Error(`${fn.node.path}: a function bound to the shared cache must run in the VPC`);
  }
  new ec2.CfnSecurityGroupIngress(fn, 'SharedCacheIngress', {
    groupId: cache.securityGroup.securityGroupId,
    sourceSecurityGroupId: fn.securityGroup.securityGroupId,
    ipProtocol: 'tcp',
    fromPort: SHARED_CACHE_PORT,
    toPort: SHARED_CACHE_PORT,
    description: `xp ${fn.node.id} function (${Stack.of(fn).stackName})`,
  });
  fn.setEnvironment(EnvVar.RedisUrl, cache.url);
}
