package segmentation

import (
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

var (
	segmentsRead  = []string{auth.ScopeSegmentsRead}
	segmentsWrite = []string{auth.ScopeSegmentsWrite}
	// perCustomer reads are part of a customer's profile and export too.
	perCustomer = []string{auth.ScopeSegmentsRead, auth.ScopeProfilesRead}
)

// Scopes names the key scopes that allow each segmentation RPC (any one of
// them); the gRPC server denies every RPC it does not list.
var Scopes = auth.ScopeTable{
	segmentationv1.SegmentService_CreateSegment_FullMethodName:           segmentsWrite,
	segmentationv1.SegmentService_GetSegment_FullMethodName:              segmentsRead,
	segmentationv1.SegmentService_ListSegments_FullMethodName:            segmentsRead,
	segmentationv1.SegmentService_DeleteSegment_FullMethodName:           segmentsWrite,
	segmentationv1.SegmentService_ListSegmentMembers_FullMethodName:      segmentsRead,
	segmentationv1.SegmentService_ListCustomerSegments_FullMethodName:    perCustomer,
	segmentationv1.SegmentService_UpdateSegment_FullMethodName:           segmentsWrite,
	segmentationv1.SegmentService_ListSegmentSizes_FullMethodName:        segmentsRead,
	segmentationv1.SegmentService_PreviewSegment_FullMethodName:          segmentsRead,
	segmentationv1.SegmentService_GetRfmGrid_FullMethodName:              segmentsRead,
	segmentationv1.SegmentService_GetLifecycleSettings_FullMethodName:    segmentsRead,
	segmentationv1.SegmentService_UpdateLifecycleSettings_FullMethodName: segmentsWrite,
	segmentationv1.SegmentService_FitPredictions_FullMethodName:          segmentsWrite,
	segmentationv1.SegmentService_CreateComputedTrait_FullMethodName:     segmentsWrite,
	segmentationv1.SegmentService_ListComputedTraits_FullMethodName:      segmentsRead,
	segmentationv1.SegmentService_DeleteComputedTrait_FullMethodName:     segmentsWrite,
	segmentationv1.SegmentService_GetCustomerFeatures_FullMethodName:     perCustomer,
}
