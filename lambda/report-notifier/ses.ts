/** Sends a report with SES (API v2) from the verified identity to the configured recipients. */
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import type { NotifierConfig } from './config';
import { headerSafe, RenderedReport } from './render';

const client = new SESv2Client({});

export async function sendReport(config: NotifierConfig, report: RenderedReport, tag: string): Promise<string | undefined> {
  const result = await client.send(new SendEmailCommand({
    FromEmailAddress: config.fromAddress,
    Destination: { ToAddresses: config.toAddresses },
    Content: {
      Simple: {
        Subject: { Data: headerSafe(report.subject), Charset: 'UTF-8' },
        Body: {
          Text: { Data: report.text, Charset: 'UTF-8' },
          Html: { Data: report.html, Charset: 'UTF-8' },
        },
      },
    },
    ...(config.configurationSetName ? { ConfigurationSetName: config.configurationSetName } : {}),
    EmailTags: [{ Name: 'report', Value: tag }],
  }));
  return result.MessageId;
}
