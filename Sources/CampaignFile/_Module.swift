// module CampaignFile
