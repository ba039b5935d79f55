package campaign

import (
	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

var (
	campaignsRead  = []string{auth.ScopeCampaignsRead}
	campaignsWrite = []string{auth.ScopeCampaignsWrite}
	// perCustomer reads are part of a customer's profile and export too.
	perCustomer = []string{auth.ScopeCampaignsRead, auth.ScopeProfilesRead}
)

// Scopes names the key scopes that allow each campaign RPC but
// PublicMethods (any one of them); the gRPC server denies every RPC it
// does not list.
var Scopes = auth.ScopeTable{
	campaignv1.CampaignService_CreateCampaign_FullMethodName: campaignsWrite,
	campaignv1.CampaignService_GetCampaign_FullMethodName:    campaignsRead,
	campaignv1.CampaignService_ListCampaigns_FullMethodName:  campaignsRead,
	campaignv1.CampaignService_LaunchCampaign_FullMethodName: campaignsWrite,
	campaignv1.CampaignService_ListDeliveries_FullMethodName: campaignsRead,

	campaignv1.ChannelService_CreateChannel_FullMethodName: campaignsWrite,
	campaignv1.ChannelService_GetChannel_FullMethodName:    campaignsRead,
	campaignv1.ChannelService_ListChannels_FullMethodName:  campaignsRead,
	campaignv1.ChannelService_UpdateChannel_FullMethodName: campaignsWrite,
	campaignv1.ChannelService_DeleteChannel_FullMethodName: campaignsWrite,

	campaignv1.JourneyService_CreateJourney_FullMethodName:        campaignsWrite,
	campaignv1.JourneyService_GetJourney_FullMethodName:           campaignsRead,
	campaignv1.JourneyService_ListJourneys_FullMethodName:         campaignsRead,
	campaignv1.JourneyService_UpdateJourney_FullMethodName:        campaignsWrite,
	campaignv1.JourneyService_ActivateJourney_FullMethodName:      campaignsWrite,
	campaignv1.JourneyService_PauseJourney_FullMethodName:         campaignsWrite,
	campaignv1.JourneyService_ResumeJourney_FullMethodName:        campaignsWrite,
	campaignv1.JourneyService_ArchiveJourney_FullMethodName:       campaignsWrite,
	campaignv1.JourneyService_GetJourneyStats_FullMethodName:      campaignsRead,
	campaignv1.JourneyService_ListJourneySends_FullMethodName:     campaignsRead,
	campaignv1.JourneyService_ListCustomerJourneys_FullMethodName: perCustomer,
	campaignv1.JourneyService_ListCustomerSends_FullMethodName:    perCustomer,

	campaignv1.ConsentService_ListCustomerConsents_FullMethodName: perCustomer,
}
