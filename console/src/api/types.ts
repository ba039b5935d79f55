// Names for the generated OpenAPI types the views use. schema.d.ts is
// generated from the gateway's /openapi.json (npm run gen:api, part of the
// build) and committed; `make checkconsole` fails when it is stale, as
// `make checkgenerate` does for gen/, and a contract change that breaks a
// view fails the type check.
import type { definitions } from './schema';

export type Customer = definitions['v1Customer'];
export type Identity = definitions['v1Identity'];
export type IdentityTrait = definitions['v1IdentityTrait'];
export type Event = definitions['v1Event'];
export type Merge = definitions['v1Merge'];
export type MergeSuggestion = definitions['v1MergeSuggestion'];
export type DuplicateScan = definitions['v1DuplicateScan'];
export type Segment = definitions['v1Segment'];
export type CustomerFeatures = definitions['v1CustomerFeatures'];
export type Consent = definitions['kizunaCampaignV1Consent'];
export type CustomerJourney = definitions['v1CustomerJourney'];
export type Send = definitions['v1Send'];
export type Journey = definitions['v1Journey'];
export type JourneyStats = definitions['v1JourneyStats'];
export type Step = definitions['v1Step'];
export type Channel = definitions['v1Channel'];
export type Workspace = definitions['v1Workspace'];
export type FrequencyCap = definitions['v1FrequencyCap'];
export type Kpi = definitions['v1Kpi'];
export type ComputeMetricResponse = definitions['v1ComputeMetricResponse'];
export type ChannelType = definitions['v1ChannelType'];
export type ClvPrediction = definitions['v1ClvPrediction'];
export type KpiTree = definitions['v1KpiTree'];
export type NodeValue = definitions['v1NodeValue'];
export type EvaluateKpiTreeResponse = definitions['v1EvaluateKpiTreeResponse'];
export type WhatIfKpiTreeResponse = definitions['v1WhatIfKpiTreeResponse'];
export type APIKey = definitions['v1APIKey'];
export type APIKeyKind = definitions['v1APIKeyKind'];
export type CreateAPIKeyResponse = definitions['v1CreateAPIKeyResponse'];
export type ListAPIKeysResponse = definitions['v1ListAPIKeysResponse'];
export type RevokeAPIKeyResponse = definitions['v1RevokeAPIKeyResponse'];
export type VerifyAPIKeyResponse = definitions['v1VerifyAPIKeyResponse'];
