package api

import (
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// Key scopes (see APIKey in workspaces.proto).
const (
	track         = auth.ScopeTrack
	profilesRead  = auth.ScopeProfilesRead
	profilesWrite = auth.ScopeProfilesWrite
	admin         = auth.ScopeAdmin
)

// anyRead is every read scope: workspace settings (time zone, phone
// region) are what every reader needs to show its data.
var anyRead = []string{profilesRead, auth.ScopeSegmentsRead, auth.ScopeCampaignsRead, auth.ScopeMetricsRead}

// Scopes names, for every ingestion RPC but PublicMethods, the scopes
// that allow it (any one of them). A write key (scope track) reaches only
// TrackingService.
var Scopes = auth.ScopeTable{
	ingestionv1.TrackingService_Batch_FullMethodName:    {track},
	ingestionv1.TrackingService_Identify_FullMethodName: {track},
	ingestionv1.TrackingService_Track_FullMethodName:    {track},
	ingestionv1.TrackingService_Page_FullMethodName:     {track},
	ingestionv1.TrackingService_Screen_FullMethodName:   {track},
	ingestionv1.TrackingService_Group_FullMethodName:    {track},
	ingestionv1.TrackingService_Alias_FullMethodName:    {track},

	ingestionv1.CustomerService_GetCustomer_FullMethodName:           {profilesRead},
	ingestionv1.CustomerService_LookupCustomer_FullMethodName:        {profilesRead},
	ingestionv1.CustomerService_BatchGetCustomers_FullMethodName:     {profilesRead},
	ingestionv1.CustomerService_SearchCustomers_FullMethodName:       {profilesRead},
	ingestionv1.CustomerService_ListCustomerEvents_FullMethodName:    {profilesRead},
	ingestionv1.CustomerService_UpdateCustomerConsent_FullMethodName: {profilesWrite},

	ingestionv1.WorkspaceService_GetWorkspace_FullMethodName:    anyRead,
	ingestionv1.WorkspaceService_UpdateWorkspace_FullMethodName: {admin},
	ingestionv1.WorkspaceService_CreateAPIKey_FullMethodName:    {admin},
	ingestionv1.WorkspaceService_ListAPIKeys_FullMethodName:     {admin},
	ingestionv1.WorkspaceService_RevokeAPIKey_FullMethodName:    {admin},

	ingestionv1.DeduplicationService_FindDuplicates_FullMethodName:        {profilesWrite},
	ingestionv1.DeduplicationService_GetDuplicateScan_FullMethodName:      {profilesRead},
	ingestionv1.DeduplicationService_ListMergeSuggestions_FullMethodName:  {profilesRead},
	ingestionv1.DeduplicationService_AcceptMergeSuggestion_FullMethodName: {profilesWrite},
	ingestionv1.DeduplicationService_RejectMergeSuggestion_FullMethodName: {profilesWrite},
	ingestionv1.DeduplicationService_MergeCustomers_FullMethodName:        {profilesWrite},
	ingestionv1.DeduplicationService_GetMerge_FullMethodName:              {profilesRead},
	ingestionv1.DeduplicationService_ListMerges_FullMethodName:            {profilesRead},
	ingestionv1.DeduplicationService_UndoMerge_FullMethodName:             {profilesWrite},

	ingestionv1.ImportService_CreateImport_FullMethodName:         {profilesWrite},
	ingestionv1.ImportService_UploadImportChunk_FullMethodName:    {profilesWrite},
	ingestionv1.ImportService_StartImport_FullMethodName:          {profilesWrite},
	ingestionv1.ImportService_GetImport_FullMethodName:            {profilesRead},
	ingestionv1.ImportService_ListImportRejections_FullMethodName: {profilesRead},

	ingestionv1.RegulationService_CreateRegulation_FullMethodName: {profilesWrite},
	ingestionv1.RegulationService_GetRegulation_FullMethodName:    {profilesRead},
	ingestionv1.RegulationService_ListRegulations_FullMethodName:  {profilesRead},
	ingestionv1.RegulationService_ExportCustomer_FullMethodName:   {profilesRead},
}
