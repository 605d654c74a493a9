"""SMS: text messages to and from a business's phone numbers, through a provider (Twilio first;
chatpad/channels/sms/providers/). docs/channels/sms.md."""
