package worker

import (
	"context"
	"fmt"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
)

// judgeMail decides what a mail failure is (idp.MailFailed: the IdP could
// not hand the mail to its relay and does not say why) from the provider's
// recent mail, shared by every worker through Redis:
//
//   - MailHaltAfter different users failed in a row with nothing delivered
//     in between: the realm's mail is broken. The provider halts and every
//     waiting user is delivered after the resume.
//   - the same user failed MailRefusedAfter times, the relay delivered
//     others' mail since the first of them, and most of the provider's
//     mail goes out: the relay refuses that recipient. It is skipped.
//   - anything else is retried with the usual backoff.
func (s *Server) judgeMail(ctx context.Context, prov *provider, t *task, d Decision) Decision {
	signs, err := s.mail.Failed(context.WithoutCancel(ctx), prov.Name, t.id)
	if err != nil {
		s.log.Warn("could not record a mail failure; the task is retried", "provider", prov.Name, "task_id", t.id, "error", err)
		return d
	}
	e := *d.Err
	switch {
	case prov.MailHaltAfter > 0 && signs.Streak >= prov.MailHaltAfter:
		if err := s.mail.Clear(context.WithoutCancel(ctx), prov.Name); err != nil {
			s.log.Warn("could not clear the mail failures after a halt", "provider", prov.Name, "error", err)
		}
		e.Message = fmt.Sprintf("%d users' mail failed in a row, none delivered in between: %s", signs.Streak, e.Message)
		return Decision{Action: Halt, Reason: d.Reason, Err: &e}
	case prov.MailRefusedAfter > 0 && signs.Failures >= prov.MailRefusedAfter && signs.DeliveredSince &&
		signs.Failed <= signs.Delivered:
		s.forgetMail(ctx, prov, t)
		e.Kind = idp.RecipientRefused
		e.Message = fmt.Sprintf("this user's mail failed %d times while the relay delivered others' (%d delivered, %d failed "+
			"in the last %s): the relay refuses this recipient: %s", signs.Failures, signs.Delivered, signs.Failed,
			mailWindow, e.Message)
		return Decision{Action: Skip, Reason: tasks.ReasonRecipientRefused, Err: &e}
	}
	return d
}

// delivered notes a mail the IdP handed to its relay.
func (s *Server) delivered(ctx context.Context, prov *provider) {
	if err := s.mail.Delivered(context.WithoutCancel(ctx), prov.Name); err != nil {
		s.log.Debug("could not record a delivered mail", "provider", prov.Name, "error", err)
	}
}

func (s *Server) forgetMail(ctx context.Context, prov *provider, t *task) {
	if err := s.mail.Forget(context.WithoutCancel(ctx), prov.Name, t.id); err != nil {
		s.log.Debug("could not forget a task's mail failures", "provider", prov.Name, "task_id", t.id, "error", err)
	}
}
