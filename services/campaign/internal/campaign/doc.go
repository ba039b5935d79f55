// Package campaign is the campaign domain: what a campaign and a delivery
// are, how a campaign is validated, and the use cases of the campaigns API.
//
// A campaign is a broadcast journey with one webhook send, kept under its
// older API: launching makes the webhook channel and the journey and
// activates it in one transaction (see Launcher), and from then on the
// journey runner and sender do the work, with the consent, frequency caps,
// quiet hours and exactly-once sends every journey has. A campaign's
// deliveries are its journey's sends.
package campaign
